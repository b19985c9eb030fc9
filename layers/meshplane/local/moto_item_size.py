"""DynamoDB's item size limit as DynamoDB applies it.

moto checks the 400 KB limit while an attribute is being set, adding the new value to
the item's current size including the value it replaces. An update that swaps a 250 KB
attribute for another 250 KB one then fails as if the item held both, which DynamoDB
never does. Here the replaced value is left out, and the limit is DynamoDB's own:
400 KB = 409,600 bytes of attribute names and values.
"""

from __future__ import annotations

from typing import Any

ITEM_MAX_BYTES = 409_600


def attribute_bytes(name: str, value: Any) -> int:
    """What one attribute counts toward the item's size: its name plus its value."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    return bytesize(name) + (value.size() if type(value) is DynamoType else bytesize(str(value)))


def install() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    def set_attribute(self: dict[str, Any], key: str, value: Any) -> None:
        others = sum(attribute_bytes(name, current) for name, current in self.items() if name != key)
        if others + attribute_bytes(key, value) > ITEM_MAX_BYTES:
            raise ItemSizeTooLarge
        dict.__setitem__(self, key, value)

    LimitedSizeDict.__setitem__ = set_attribute  # type: ignore[method-assign]
