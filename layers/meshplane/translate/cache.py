"""Resources that many proxies of one mesh state share, rendered and serialised once per state.

Most proxies of a mesh share most of their clusters: every caller of a node gets the same
egress cluster and the same endpoints for it.  Within one `MeshState` (frozen) such a resource
is a function of its key alone, so it is built once, its deterministic bytes computed once, and
the same (never mutated) message goes into every snapshot that names it.  The cache lives and
dies with its state (`graph.memo.per_state`): a recompute that loads a new state starts empty, so
nothing stale is ever served, and its size is bounded by the resources that state can produce.
A state's first proxy renders through a `PassingCache` instead: the state's cache fills from its second.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

from google.protobuf.message import Message

from meshplane.graph.memo import ContentKeys, per_state
from meshplane.model.state import MeshState

M = TypeVar("M", bound=Message)
T = TypeVar("T")
_MISSING = object()


class RenderCache:
    """Messages by key, and the deterministic serialisation of each, for one state."""

    def __init__(self) -> None:
        self._messages: dict[Hashable, Message] = {}
        self._serialised: dict[int, bytes] = {}  # by the id of a message held in `_messages`
        self._values: dict[Hashable, object] = {}
        self.keys = ContentKeys()

    def get(self, key: Hashable, build: Callable[..., M], *args: Any, serialise: bool = True) -> M:
        """The message for `key`, built by `build(*args)` the first time (callers must not mutate it).

        `serialise` keeps its bytes for `serialised`; a part that is only copied into larger
        messages needs none.
        """
        found = self._messages.get(key)
        if found is None:
            found = self._messages[key] = build(*args)
            if serialise:
                self._serialised[id(found)] = found.SerializeToString(deterministic=True)
        return found  # type: ignore[return-value]  # `build` made it for this key (no `cast`: a call per lookup)

    def value(self, key: Hashable, build: Callable[..., T], *args: Any) -> T:
        """Anything else derived for `key` (a resource's bytes, tuples of them), built by `build(*args)` the first
        time.  Looked up, not tried: on the first proxy of a state most lookups miss."""
        found = self._values.get(key, _MISSING)
        if found is _MISSING:
            found = self._values[key] = build(*args)
        return found  # type: ignore[return-value]  # `build` made it for this key

    @property
    def known(self) -> Mapping[int, bytes]:
        """The deterministic bytes of every message this cache built and serialised, by the message's `id`."""
        return self._serialised

    def serialised(self, resources: Mapping[str, Message]) -> dict[str, bytes]:
        """The known serialisations of those `resources` that came from this cache."""
        known = self._serialised
        return {name: body for name, message in resources.items() if (body := known.get(id(message))) is not None}


class PassingCache(RenderCache):
    """A render cache that keeps nothing for later proxies: the first proxy of a state builds for itself alone.

    Keeping costs that proxy the keys, the entries and the heap they fill (a fifth of the time of
    one proxy with 10,000 clusters, `bench/suite_translation.py`), and pays off only for proxies
    after it, which a recompute of one proxy does not have.  It lives for one translation."""

    def __init__(self) -> None:
        super().__init__()
        self._held: list[Message] = []  # keeps each serialised message's id its own while `known` is read

    def get(self, key: Hashable, build: Callable[..., M], *args: Any, serialise: bool = True) -> M:
        found = build(*args)
        if serialise:
            self._held.append(found)
            self._serialised[id(found)] = found.SerializeToString(deterministic=True)
        return found

    def value(self, key: Hashable, build: Callable[..., T], *args: Any) -> T:
        return build(*args)


def for_state(state: MeshState) -> RenderCache:
    """The render cache of `state`, created on first use."""
    return per_state(state, "translate.render", lambda _: RenderCache())


def for_proxy(state: MeshState, first_of_state: bool) -> RenderCache:
    """The cache a proxy of `state` renders through: the state's own, or for the state's first proxy
    (`graph.Resolver.first_of_state`) one that keeps nothing past its translation."""
    return PassingCache() if first_of_state else for_state(state)
