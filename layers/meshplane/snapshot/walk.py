"""One walker over protobuf messages by their descriptors, `Any`s included.

Every rewrite and query of a snapshot's resources (file-mode config sources, static
bootstraps, secret references, route names) looks for messages of a few types wherever
they sit, often several `typed_config` levels deep.  The walker finds them from the
descriptors alone, so no caller hand-codes a path through the Envoy API, and it enters
only the fields whose type can hold a wanted message (worked out once per type), so a
query for TLS contexts never unpacks a message that cannot contain one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import cast

from google.protobuf import any_pb2, symbol_database
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

Visit = Callable[[Message], bool]
"""Called with each wanted message; True when it changed something, so the `Any`s around it are repacked."""

_ANY = any_pb2.Any.DESCRIPTOR.full_name


def walk(message: Message, wanted: frozenset[str], visit: Visit) -> bool:
    """Visit every message under `message` whose type's full name is in `wanted`, inside the
    `Any`s of imported types too; True if a visit changed something.

    Depth first, in field order, a message after what it holds: what a visit puts into a
    message is not walked.  An `Any` whose content changed is repacked deterministically;
    one of a type never imported is left alone (it cannot hold a message of ours).
    """
    entered = _entered_fields(message.DESCRIPTOR, wanted)
    changed = False
    for field, value in message.ListFields():
        element = entered.get(field.name)
        if element is None:
            continue
        for child in _children(field, value):
            if element.full_name == _ANY:
                changed |= _walk_any(cast(any_pb2.Any, child), wanted, visit)
                continue
            changed |= walk(child, wanted, visit)
            if element.full_name in wanted:
                changed |= visit(child)
    return changed


def _children(field: FieldDescriptor, value: object) -> Iterable[Message]:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        return value.values()  # type: ignore[attr-defined,no-any-return]
    return value if field.is_repeated else (value,)  # type: ignore[return-value]


def _walk_any(packed: any_pb2.Any, wanted: frozenset[str], visit: Visit) -> bool:
    try:
        cls = symbol_database.Default().GetSymbol(packed.TypeName())
    except KeyError:
        return False
    descriptor = cls.DESCRIPTOR
    if descriptor.full_name not in _reaching(descriptor, wanted):
        return False
    inner = cls()
    packed.Unpack(inner)
    changed = walk(inner, wanted, visit)
    if descriptor.full_name in wanted:
        changed |= visit(inner)
    if changed:
        packed.Pack(inner, deterministic=True)
    return changed


def _element_type(field: FieldDescriptor) -> Descriptor | None:
    """The message type of a field's elements (a map's values); None for scalars."""
    message_type: Descriptor | None = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        return message_type.fields_by_name["value"].message_type
    return message_type


@functools.cache
def _entered_fields(descriptor: Descriptor, wanted: frozenset[str]) -> dict[str, Descriptor]:
    """The fields of `descriptor` worth entering, each with its element type."""
    reaching = _reaching(descriptor, wanted)
    out: dict[str, Descriptor] = {}
    for field in descriptor.fields:
        element = _element_type(field)
        if element is not None and element.full_name in reaching:
            out[field.name] = element
    return out


@functools.cache
def _reaching(root: Descriptor, wanted: frozenset[str]) -> frozenset[str]:
    """The types `root` can hold (itself included) that are wanted, are `Any`, or can hold one of those.

    A fixed point over the type graph: it has cycles (a Struct holds Structs), so a plain
    recursion would not end.
    """
    types: dict[str, Descriptor] = {}
    pending = [root]
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name not in types:
            types[descriptor.full_name] = descriptor
            pending += [element for element in map(_element_type, descriptor.fields) if element is not None]
    reaching = {name for name in types if name in wanted or name == _ANY}
    grew = True
    while grew:
        grew = False
        for name, descriptor in types.items():
            if name not in reaching and any(
                element is not None and element.full_name in reaching
                for element in map(_element_type, descriptor.fields)
            ):
                reaching.add(name)
                grew = True
    return frozenset(reaching)
