"""DynamoDB persistence of App Mesh resources (see `schema` for the item layout).

The public names are resolved on first access (PEP 562), so importing a light
submodule such as `store.endpoints` does not load the generated App Mesh shapes
that `resources` and `schema` need (about 125 ms of a Lambda cold start).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshplane.store.resources import ResourceStore
    from meshplane.store.schema import create_table, decode_image, decode_stream_record

__all__ = ["ResourceStore", "create_table", "decode_image", "decode_stream_record"]
_HOME = {"ResourceStore": "meshplane.store.resources", "create_table": "meshplane.store.schema",
         "decode_image": "meshplane.store.schema", "decode_stream_record": "meshplane.store.schema"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOME[name]), name)
