"""What the pipeline needs from the stores, the graph and the translator, as protocols.

Why protocols: the pipeline is wired by its entry points, and tests can hand it
any object of the right shape.  The defaults import the real packages lazily, so a
handler's cold start pays only for what it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: the endpoint handlers never load protobuf or the snapshot types
    from google.protobuf.message import Message

    from meshplane.model.ids import ProxyId
    from meshplane.model.policy.keys import DependencyKey
    from meshplane.model.state import MeshState
    from meshplane.pipeline.acm import Resolution
    from meshplane.snapshot.snapshot import Snapshot

Validator = Callable[["Snapshot"], list[str]]


class StateLoader(Protocol):
    """The App Mesh resources of a mesh (`store/resources.py` implements this)."""

    def load_mesh_state(self, mesh: str) -> MeshState: ...

    def list_mesh_names(self) -> list[str]: ...


@runtime_checkable
class DependencyLoader(Protocol):
    """A loader that can also read just the part of a mesh some proxies were built from
    (`ResourceStore.load_dependencies`): an endpoint change then reads its dependents'
    resources, not the whole mesh."""

    def load_dependencies(self, mesh: str, paths: Iterable[str]) -> MeshState: ...


class Secrets(Protocol):
    """What a rebuild asks of one recompute's ACM resolver (`pipeline.acm.AcmSecrets`, or a stand-in that makes
    it on first use): the snapshot with the secrets its references name."""

    def resolve(self, snapshot: Snapshot, previous: Callable[[], Snapshot | None],
                stamps: Mapping[str, str]) -> Resolution: ...


class Graph(Protocol):
    """Which proxies a mesh has and what each one is built from (`meshplane.graph`)."""

    def proxies(self, state: MeshState) -> Iterable[ProxyId]: ...

    def dependencies(self, state: MeshState, proxy: ProxyId) -> frozenset[DependencyKey]: ...

    def endpoint_dependencies(self, state: MeshState, proxy: ProxyId) -> frozenset[str]: ...

    def dependency_paths(self, state: MeshState, proxy: ProxyId) -> tuple[frozenset[str], frozenset[str]]:
        """`dependencies` as their paths (what the index stores) and `endpoint_dependencies`, from one
        resolution of the proxy."""
        ...

    def one_walk(self) -> AbstractContextManager[None]:
        """A block in which this thread resolves a proxy once for both its translation and its dependencies
        (the module translator resolves with `meshplane.graph` too)."""
        ...


class Translator(Protocol):
    """Mesh state to one proxy's xDS resources (`meshplane.translate`)."""

    def translate(self, state: MeshState, proxy: ProxyId, last_endpoints: Mapping[str, Message] | None = None,
                  rendered: Collection[str] | None = None) -> Snapshot:
        """The proxy's snapshot; with `last_endpoints` and `rendered`, the assignments of nodes outside `rendered`
        are `last_endpoints`' (`translate.translate`)."""
        ...

    def endpoints(self, state: MeshState, proxy: ProxyId, last: Mapping[str, Message] | None = None,
                  changed: Collection[str] | None = None) -> Mapping[str, Message]:
        """The proxy's ClusterLoadAssignments; with `last` and `changed`, those of unchanged nodes are
        `last`'s (`translate.translate_endpoints`)."""
        ...


class ModuleGraph:
    """`meshplane.graph`'s module functions behind the Graph protocol."""

    def proxies(self, state: MeshState) -> Iterable[ProxyId]:
        from meshplane import graph

        return graph.proxies(state)

    def dependencies(self, state: MeshState, proxy: ProxyId) -> frozenset[DependencyKey]:
        from meshplane import graph

        return frozenset(graph.dependencies(state, proxy))

    def endpoint_dependencies(self, state: MeshState, proxy: ProxyId) -> frozenset[str]:
        from meshplane import graph

        return frozenset(graph.endpoint_dependencies(state, proxy))

    def dependency_paths(self, state: MeshState, proxy: ProxyId) -> tuple[frozenset[str], frozenset[str]]:
        from meshplane.graph import resolve

        deps = resolve(state, proxy)[1]
        return frozenset(deps.paths), frozenset(deps.endpoint_nodes)

    def one_walk(self) -> AbstractContextManager[None]:
        from meshplane.graph import one_walk

        return one_walk()


class ModuleTranslator:
    """`meshplane.translate` behind the Translator protocol.

    The EDS-only path (`translate.translate_endpoints`) renders only the proxy's
    ClusterLoadAssignments: no listener, route or cluster is built.
    """

    def translate(self, state: MeshState, proxy: ProxyId, last_endpoints: Mapping[str, Message] | None = None,
                  rendered: Collection[str] | None = None) -> Snapshot:
        from meshplane import translate

        return translate.translate(state, proxy, last_endpoints, rendered)

    def endpoints(self, state: MeshState, proxy: ProxyId, last: Mapping[str, Message] | None = None,
                  changed: Collection[str] | None = None) -> Mapping[str, Message]:
        from meshplane import translate

        return translate.translate_endpoints(state, proxy, last, changed)


def consistency_validator(snapshot: Snapshot) -> list[str]:
    """`meshplane.snapshot.consistency.check`, imported when first used."""
    from meshplane.snapshot import consistency

    return list(consistency.check(snapshot))
