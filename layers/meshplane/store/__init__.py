"""DynamoDB persistence of App Mesh resources (see `schema` for the item layout)."""

from meshplane.store.resources import ResourceStore
from meshplane.store.schema import create_table, decode_image, decode_stream_record

__all__ = ["ResourceStore", "create_table", "decode_image", "decode_stream_record"]
