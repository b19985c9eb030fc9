"""Base classes shared by every generated App Mesh shape."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator


class AppMeshModel(BaseModel):
    """A structure of the App Mesh API: camelCase on the wire, unknown fields refused.

    `strict` keeps JSON `"5"` from passing as the integer 5, so a wrong type is a
    400 that names the field.  `defer_build` keeps Lambda cold starts small:
    a model's validator is built the first time it is used.
    """

    model_config = ConfigDict(
        populate_by_name=True,
        extra="forbid",
        strict=True,
        defer_build=True,
        frozen=False,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready camelCase form, without unset members."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class AppMeshUnion(AppMeshModel):
    """A botocore union: exactly one member must be set."""

    @model_validator(mode="after")
    def _exactly_one_member(self) -> AppMeshUnion:
        chosen = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(chosen) != 1:
            members = ", ".join(f.alias or n for n, f in type(self).model_fields.items())
            raise ValueError(f"exactly one of [{members}] must be set, got {len(chosen)}")
        return self

    @property
    def member(self) -> tuple[str, Any]:
        """The (python attribute name, value) of the member that is set."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is not None:
                return name, value
        raise ValueError("empty union")


class AppMeshError(AppMeshModel):
    """An error shape; the API layer turns these into HTTP responses."""

    http_status: ClassVar[int] = 400


def lazy_exports(
    package: str, homes: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for a package whose names each come from one submodule, imported on first use.

    Why (PEP 562): a cold start that created all 228 shape classes paid for every
    one while an invocation uses a few resource kinds.  `homes` maps a submodule
    to the names it defines; the import system's module lock makes concurrent
    first uses (the threaded local API server) safe.
    """
    home = {name: module for module, names in homes.items() for name in names}

    def lookup(name: str) -> Any:
        if name in homes:
            return import_module(f"{package}.{name}")
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{home[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def names() -> list[str]:
        return sorted({*vars(sys.modules[package]), *home, *homes})

    return lookup, names
