"""DynamoDB attribute values in the emulator's answers written as they are, not walked member by member.

moto serializes every answer by its botocore model: each `AttributeValue` of each item is a
structure whose ten members (S, N, B, SS, ...) are looked up one by one through alias
providers, so an answer of many items (a Query page of the mesh, a BatchGetItem of
pointers, a stream's GetRecords) spends most of the emulator's CPU there. moto already
holds such a value in its wire form (`{"S": "..."}`), so a value made only of S, N, SS, NS,
BOOL, NULL, M and L, with the types those members have on the wire, is written as it is;
anything else (B and BS, whose bytes moto encodes, or an unexpected key or type) goes
through moto's own serializer, as does every other shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SHAPE = "AttributeValue"
_INSTALLED = "_meshplane_attribute_values"
MOTO: dict[str, Callable[..., Any]] = {}  # moto's own `BaseJSONSerializer._serialize`, once installed


def wire_form(value: Any) -> Any:
    """`value` as moto's serializer would write it if it is made of string, number, set, boolean, null, map and
    list members only; None otherwise (the caller then serializes it moto's way)."""
    if type(value) is not dict or not value:
        return None
    out: dict[str, Any] = {}
    for key, member in value.items():
        if key in ("S", "N"):
            if type(member) is not str:
                return None
            out[key] = member
        elif key in ("SS", "NS"):
            if type(member) is not list or any(type(x) is not str for x in member):
                return None
            out[key] = list(member)
        elif key in ("BOOL", "NULL"):
            if type(member) is not bool:
                return None
            out[key] = member
        elif key == "M":
            if type(member) is not dict:
                return None
            written: dict[str, Any] = {}
            for name, nested in member.items():
                form = wire_form(nested)
                if form is None:
                    return None
                written[name] = form
            out[key] = written
        elif key == "L":
            if type(member) is not list:
                return None
            forms = [wire_form(nested) for nested in member]
            if any(form is None for form in forms):
                return None
            out[key] = forms
        else:
            return None
    return out


def install() -> None:
    from moto.core.serialize import BaseJSONSerializer

    if getattr(BaseJSONSerializer._serialize, _INSTALLED, False):
        return
    MOTO["serialize"] = BaseJSONSerializer._serialize

    def serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == SHAPE and key and not getattr(self._value_picker, "response_transformers", None):
            form = wire_form(value)
            if form is not None:
                serialized[self.get_serialized_name(shape, key)] = form
                return
        MOTO["serialize"](self, serialized, value, shape, key)

    setattr(serialize, _INSTALLED, True)
    BaseJSONSerializer._serialize = serialize  # type: ignore[method-assign]
