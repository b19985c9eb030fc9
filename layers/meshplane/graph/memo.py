"""Derived data cached per `MeshState` object, so many proxies of one state share the work.

MeshState is frozen, so anything computed from one object stays true for that object.
Entries are keyed by `id(state)` and checked against a weak reference, so a new state
that reuses a dead one's id never sees the old entry; they are dropped with the state.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from meshplane.model.state import MeshState

T = TypeVar("T")
_ENTRIES: dict[int, tuple[weakref.ref[MeshState], dict[str, Any]]] = {}


def _forget(key: int, ref: weakref.ref[MeshState]) -> None:
    entry = _ENTRIES.get(key)
    if entry is not None and entry[0] is ref:
        del _ENTRIES[key]


def _slots(state: MeshState) -> dict[str, Any]:
    key = id(state)
    entry = _ENTRIES.get(key)
    if entry is not None and entry[0]() is state:
        return entry[1]
    ref = weakref.ref(state, partial(_forget, key))
    slots: dict[str, Any] = {}
    _ENTRIES[key] = (ref, slots)
    return slots


def per_state(state: MeshState, name: str, build: Callable[[MeshState], T]) -> T:
    """`build(state)`, computed once per state object and `name`."""
    slots = _slots(state)
    try:
        value: T = slots[name]  # what `build` made for this name
    except KeyError:
        value = slots[name] = build(state)
    return value


class ContentKeys:
    """Hashable stand-ins for unhashable shapes (pydantic models): equal content, equal key.

    Each object's key is computed once; the object is held beside its key, so its `id` cannot be
    reused by another object while this lives (it lives as long as the state it is kept for).
    """

    def __init__(self) -> None:
        self._keys: dict[int, tuple[object, str]] = {}

    def of(self, value: Any) -> str | None:
        """None for None, else the value's canonical JSON."""
        if value is None:
            return None
        found = self._keys.get(id(value))
        if found is None:
            found = self._keys[id(value)] = (value, value.model_dump_json())
        return found[1]
