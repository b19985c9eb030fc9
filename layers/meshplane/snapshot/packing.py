"""The wire form of one resource inside xDS: a `google.protobuf.Any`, written without the protobuf runtime.

A deterministic `Any` holding `type_url` and `value` serialises as field 1 then field 2, each a
tag, a varint length and the bytes.  Writing those few bytes around a message's own serialisation
gives exactly what `Any.Pack` + `SerializeToString(deterministic=True)` would, without a second
copy of the message through the runtime (`tests/snapshot/test_packing.py` holds the two equal).
"""

from __future__ import annotations

import functools

from meshplane.snapshot.types import XdsType

_TYPE_URL_TAG = b"\x0a"  # field 1, length-delimited
_VALUE_TAG = b"\x12"  # field 2, length-delimited


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative integer."""
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE = tuple(bytes((value,)) for value in range(0x80))  # the varints of one byte, made once


def delimited(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field (`tag` already holds its number and wire type) as protobuf writes it."""
    size = len(body)
    return tag + (_ONE_BYTE[size] if size < 0x80 else varint(size)) + body


@functools.cache
def type_field(kind: XdsType) -> bytes:
    """The serialised `type_url` field every packed resource of `kind` starts with."""
    url = kind.type_url.encode()
    return _TYPE_URL_TAG + varint(len(url)) + url


@functools.lru_cache(maxsize=4096)
def _header(kind: XdsType, length: int) -> bytes:
    """Everything before a value of `length` bytes: resources of one size share it."""
    return type_field(kind) + _VALUE_TAG + varint(length)


def wrap(kind: XdsType, value: bytes) -> bytes:
    """The deterministic `Any` bytes of a message of `kind` whose deterministic serialisation is `value`."""
    if not value:  # proto3 leaves an empty `value` out of the wire form
        return type_field(kind)
    return _header(kind, len(value)) + value


def wired(kind: XdsType, value: bytes) -> tuple[bytes, bytes]:
    """A message's deterministic serialisation and its `wrap`, made together for a render cache to keep:
    every proxy of a state that holds the resource then joins the same `Any` bytes, none wraps it again."""
    return value, wrap(kind, value)


def value_of(kind: XdsType, packed: bytes) -> memoryview:
    """The message bytes inside `packed`, a canonical `wrap` of this kind (no copy is made)."""
    view = memoryview(packed)
    start = len(type_field(kind))
    if len(view) == start:
        return view[start:]
    position = start + 1  # past the value tag
    while view[position] & 0x80:
        position += 1
    return view[position + 1 :]
