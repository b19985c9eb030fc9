"""Recompute only the proxies a change affects, and publish them.

Affected proxies: a proxy is recomputed when a changed resource is among its
dependencies *now* (from `graph.dependencies` on the freshly loaded state) or was
among them when it was last published (the `IDX#` index), so a proxy that used
to depend on something gets the push that removes it.  A proxy never published is
computed by every change that reads the whole mesh (an endpoint change that reads
only its dependents' part leaves it to its own resource change or the reconcile).
Planning resolves almost none of them: a translation is a pure
function of what the graph read, and the index entry records every read (absent
resources included), so a proxy whose entry meets the change is rebuilt as it is,
and one whose entry misses it reads now what it read then, unless it enumerated a
place the change touched (`resources_reach`); only those are resolved.  A hot
change to a route 10,000 proxies use plans without resolving any of them
(`bench/suite_hot.py`; `tests/pipeline/test_plan_from_index.py` holds the two ways
of planning equal).  Nor does it read the mesh: a change to routes, routers or services
is planned from the index alone (`index_plan`) and, when hot, sent on as shards, which
read their own parts; a small one is rebuilt here from the part its proxies read
(`_from_part`).  At 10,000 nodes the mesh's resources are 17 Query pages of 1 MB, whose
decoding alone takes seconds of CPU.  A plan that would resolve a proxy, a rebuild that
reads beyond its part, and every other kind of change read the whole mesh as before.

Endpoint-only changes take the short path: only the assignments of the nodes whose
endpoints changed are translated (so only their endpoints are read) and the rest of
EDS and the other types are carried over from the last published snapshot, so their
versions (and delivery's work) stay the same.  Planning them resolves nothing:
the affected proxies come straight from the index (`endpoint_deps`), because
without a resource change a proxy's new dependencies are its old ones.  A proxy
whose dependencies changed since its last publish had a resource change, whose
own stream record rebuilds it in full from a state read after that change; the
scheduled reconcile covers the rare interleaving where that read came before the
endpoint write.  Resolving every proxy instead would make each endpoint change
cost a graph resolve of every proxy in the mesh (`bench/suite_incremental.py`).
Nor do they read the whole mesh: the index also names what each dependent was
built from, and only that is read (`_dependents_only`), checked before each publish
to hold everything the rebuild read.

A resource change rebuilds its proxies in full but carries their assignments over the
same way: an assignment is a function of its node's spec and endpoints alone, so only
those of the nodes the change wrote or whose endpoints it moved (`Plan.rendered`), and
of clusters new to the proxy, are rendered and their endpoints read.  A route every node
calls then reads no endpoints for the nodes it already routed to.  A later change to
any other node renders that node's assignment on top of the latest publish, as its
endpoint changes do; the reconcile's full pass renders every assignment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from meshplane.gc_pause import collector_paused
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.model.policy.keys import DependencyKey, PolicyKey
from meshplane.model.state import MeshState
from meshplane.pipeline.ports import DependencyLoader, Graph, Secrets, StateLoader, Translator
from meshplane.pipeline.publish import Publisher, Result, Status
from meshplane.pipeline.telemetry import Telemetry
from meshplane.publication.bucket import SourceUnavailable
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.store.endpoints import EndpointStore
from meshplane.store.errors import NotFound
from meshplane.store.index import DependencyIndex, IndexEntry, placeholder, resource_path
from meshplane.store.pointers import PointerConflict, PointerStore

if TYPE_CHECKING:
    from meshplane.publication.pointer import Pointer

MAX_ROUNDS = 3
# The kinds of resource whose change can be planned from the dependency index alone (`index_plan`).
INDEX_PLANNED = frozenset({Kind.ROUTE, Kind.GATEWAY_ROUTE, Kind.VIRTUAL_ROUTER, Kind.VIRTUAL_SERVICE})
# A shard's proxies resolved over its part of the mesh (`Recomputer.load_within`) until this many in a row
# ask for nothing beyond what was read.
SETTLED = 8
READ_THREADS = 8  # concurrent store reads of one recompute (boto3 clients are thread-safe)


@dataclass(frozen=True)
class Plan:
    """Which proxies to rebuild in full and which only for endpoints."""

    full: frozenset[ProxyId] = frozenset()
    endpoints_only: frozenset[ProxyId] = frozenset()
    retired: frozenset[str] = frozenset()
    # The virtual nodes the change touched (their spec or their endpoints): a full rebuild renders their
    # assignments and carries the others' over from its last publish, which any later change to them
    # re-renders in turn.  None: every assignment rendered (the reconcile's full pass, the safety net).
    rendered: frozenset[str] | None = None


class Fanout(Protocol):
    """Hands a plan too large for one invocation to shard invocations (`pipeline.shards`)."""

    def dispatch(self, mesh: str, plan: Plan, *, full_pass: bool = False) -> int:
        """How many shards were sent; 0 when the plan is small enough to rebuild here.  A `full_pass` rebuilds
        every proxy of the mesh (the reconcile's sweep)."""
        ...


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    shards: int = 0  # the plan went to this many shard invocations instead

    @property
    def rejected(self) -> list[Result]:
        return [r for r in self.results if r.status is Status.REJECTED]

    @property
    def published(self) -> list[Result]:
        return [r for r in self.results if r.status is Status.PUBLISHED]


def _own_keys(proxy: ProxyId) -> set[str]:
    """A proxy always depends on its mesh and on its own node or gateway."""
    return {resource_path(ResourceKey(Kind.MESH, proxy.mesh, proxy.mesh)),
            resource_path(ResourceKey(proxy.kind, proxy.mesh, proxy.name))}


class OutsideDependencies(Exception):
    """A rebuild from part of a mesh read a resource outside that part (`Recomputer._dependents_only`);
    `missing` holds the dependency paths it read beyond the part."""

    def __init__(self, proxy: str, missing: frozenset[str] = frozenset()) -> None:
        super().__init__(proxy)
        self.missing = missing


def _endpoint_plan(paths: dict[str, ProxyId], index: dict[str, IndexEntry], nodes: set[str],
                   retired: frozenset[str]) -> Plan:
    """An endpoints-only change: the index names the dependents; a proxy never published is built in full."""
    unpublished, eds = set(), set()
    for path, proxy in paths.items():
        entry = index.get(path)
        if entry is None or not entry.published:
            unpublished.add(proxy)
        elif not nodes.isdisjoint(entry.endpoint_deps):
            eds.add(proxy)
    return Plan(frozenset(unpublished), frozenset(eds), retired)


@dataclass(frozen=True)
class Reach:
    """A resource change as planning sees it: the changed keys' paths, and the paths of the places a proxy
    enumerates (and so may newly read a changed key through) that the change touches."""

    changed: frozenset[str]
    listed: frozenset[str]


def index_plannable(resources: Collection[DependencyKey]) -> bool:
    """Whether the changed `resources` are all of the kinds `index_plan` can plan a change of."""
    return bool(resources) and all(isinstance(k, ResourceKey) and k.kind in INDEX_PLANNED for k in resources)


def index_plan(entries: Mapping[str, IndexEntry], resources: Collection[DependencyKey],
               endpoint_nodes: Iterable[str]) -> Plan | None:
    """The plan of a change from the dependency index alone, or None where it takes the mesh's resources.

    A change to routes, gateway routes, routers or services (`INDEX_PLANNED`) reaches exactly
    the published proxies whose entries name a changed resource, which are rebuilt, and those
    whose endpoint dependencies name a changed node, whose EDS is; `_resource_plan` decides
    the same from the same entries.  It takes the mesh where a proxy must be resolved (its
    entry names a place the change lists, a router gaining a route, but not the change
    itself) and for any other kind (a node or gateway created or deleted, whose proxy list
    and retirements only the mesh tells, or a policy, whose targets it holds).  A proxy whose
    first publish is still to come has a placeholder entry (`_mark_unpublished`) and is
    rebuilt, as the mesh's plan rebuilds every proxy not yet published."""
    if not entries or not index_plannable(resources):
        return None  # no entry at all: nothing of the mesh was published yet, and only the mesh names its proxies
    reach = resources_reach(None, resources)
    nodes = frozenset(endpoint_nodes)
    rebuild: set[ProxyId] = set()
    eds: set[ProxyId] = set()
    for path, old in entries.items():
        if not old.published or not reach.changed.isdisjoint(old.deps):
            rebuild.add(ProxyId.parse(path))
        elif not reach.listed.isdisjoint(old.deps):
            return None
        elif not nodes.isdisjoint(old.endpoint_deps):
            eds.add(ProxyId.parse(path))
    return Plan(frozenset(rebuild), frozenset(eds), rendered=touched_nodes(resources, nodes))


def touched_nodes(resources: Iterable[DependencyKey], endpoint_nodes: Iterable[str]) -> frozenset[str]:
    """The virtual nodes a change touched, whose assignments a full rebuild renders (`Plan.rendered`): those
    it wrote and those whose endpoints it changed.  An assignment is a function of its node's spec
    (listener port, health check port, Cloud Map attribute filter) and endpoints alone."""
    written = {key.name for key in resources if isinstance(key, ResourceKey) and key.kind is Kind.VIRTUAL_NODE}
    return frozenset(written | set(endpoint_nodes))


def resources_reach(state: MeshState | None, resources: Iterable[DependencyKey]) -> Reach:
    """A route is found by listing its router's routes, a gateway route by listing its gateway's, and a policy's
    sections by looking up what is given to each of its targets (in `state`: where it was given before, it was
    read, so its key is already among the readers' dependencies).  Each of those places is itself recorded as
    a dependency of every proxy that enumerates it (`graph.build.Resolver`).  `state` is read for a policy
    only (ValueError without one)."""
    changed: set[str] = set()
    listed: set[str] = set()
    for key in resources:
        changed.add(resource_path(key))
        if isinstance(key, PolicyKey):
            if state is None:
                raise ValueError(f"the reach of policy {key.name!r} needs the mesh state")
            found = state.policies.get(key.name)
            targets = found.spec.targets if found is not None else ()
            listed.update(resource_path(t.key(state.name)) for t in targets)
        elif key.kind is Kind.ROUTE and key.parent is not None:
            listed.add(resource_path(ResourceKey(Kind.VIRTUAL_ROUTER, key.mesh, key.parent)))
        elif key.kind is Kind.GATEWAY_ROUTE and key.parent is not None:
            listed.add(resource_path(ResourceKey(Kind.VIRTUAL_GATEWAY, key.mesh, key.parent)))
    return Reach(frozenset(changed), frozenset(listed))


class Recomputer:
    def __init__(self, *, loader: StateLoader, endpoints: EndpointStore, graph: Graph, translator: Translator,
                 pointers: PointerStore, index: DependencyIndex, publisher: Publisher, telemetry: Telemetry,
                 secrets: Callable[[], Secrets] | None = None, fanout: Fanout | None = None) -> None:
        """`secrets` makes one ACM resolver per recompute; without it, ACM references stay unanswered.
        `fanout` takes the plans it deems hot; without it, every plan is rebuilt here."""
        self._loader = loader
        self._secrets = secrets
        self._endpoints = endpoints
        self._graph = graph
        self._translator = translator
        self._pointers = pointers
        self._index = index
        self._publisher = publisher
        self._t = telemetry
        self._fanout = fanout
        self._pool: ThreadPoolExecutor | None = None  # started on first use, kept by a warm container

    def load(self, mesh: str, *, endpoints: bool = True) -> MeshState:
        """The mesh's resources and, unless `endpoints` is false (planning needs none), its nodes' endpoints."""
        with self._t.traced("dynamodb.load_state"):
            state = self._loader.load_mesh_state(mesh)
            return self.with_endpoints(state, state.virtual_nodes) if endpoints else state

    def load_within(self, mesh: str, proxies: Collection[ProxyId], more: frozenset[str] = frozenset()
                    ) -> tuple[MeshState, frozenset[str]] | None:
        """The part of a mesh `proxies` read, without endpoints, and the dependency paths it holds; None where the
        whole mesh is needed: a proxy the index does not know (never published).

        The index names what each proxy was last built from; those resources, and the paths
        `more`, are read by key (`DependencyLoader.load_dependencies`).  A change can make a
        proxy read more than that (a route gains a target), so proxies are resolved over what
        was read, and what they ask for beyond it is read too.  A change adds the same reads to
        most proxies of a shard (every caller of the route reads its new target), so resolving
        stops once `SETTLED` proxies in a row ask for nothing new: the rest are not resolved an
        extra time each.  What a proxy left unresolved, or what that reaches in turn (a new
        service's router, its routes), reads beyond the part is left to the rebuild, which checks
        that it read nothing outside it (`rebuild`'s `within`) and names what it missed."""
        if not isinstance(self._loader, DependencyLoader):
            return None
        entries = self._index.entries_of(mesh, [proxy.path for proxy in proxies])
        if len(entries) < len(proxies) or not all(entry.published for entry in entries.values()):
            return None
        within = frozenset().union(more, *(entry.deps for entry in entries.values()))
        state = self._loader.load_dependencies(mesh, within)
        beyond: set[str] = set()
        quiet = 0
        for proxy in sorted(proxies):
            if quiet >= SETTLED:
                break
            if not state.defines(proxy):
                continue
            new = self._dependency_paths(state, proxy) - within - beyond
            beyond |= new
            quiet = 0 if new else quiet + 1
        if beyond:
            within |= beyond
            state = state.joined(self._loader.load_dependencies(mesh, beyond))
        return state, within

    def read_entries(self, mesh: str, proxies: Collection[ProxyId]) -> None:
        """Read the proxies' index entries, which the index then compares their next entries with."""
        self._index.entries_of(mesh, [proxy.path for proxy in proxies])

    def _dependency_paths(self, state: MeshState, proxy: ProxyId) -> set[str]:
        paths, _ = self._graph.dependency_paths(state, proxy)
        return set(paths) | _own_keys(proxy)

    def _load_with_index(self, mesh: str, *, endpoints: bool, entries: dict[str, IndexEntry] | None = None
                         ) -> tuple[MeshState, dict[str, IndexEntry]]:
        """`load` and the mesh's dependency index (unless `entries` were read already), read at the same time:
        neither waits for the other.

        Planning compares the two, and each is read after the change that triggered this
        recompute was written, whichever returns first; NotFound from `load` as before."""
        if entries is not None:
            return self.load(mesh, endpoints=endpoints), entries
        index = self._threads().submit(self._index.entries, mesh)
        try:
            state = self.load(mesh, endpoints=endpoints)
        finally:
            entries = index.result()
        return state, entries

    def _prefetch(self, state: MeshState, targets: Collection[ProxyId], index: dict[str, IndexEntry], *,
                  full: frozenset[ProxyId], changed: frozenset[str],
                  rendered: frozenset[str] | None) -> dict[str, Pointer | None]:
        """The targets' pointers by path (`PointerStore.get_many`: one call per 100) and, at the same time, the
        endpoints their rebuilds will look up, instead of one Query after the other as translation asks.

        A full rebuild reads every node it used last time, or with `rendered` only those among them; an
        EDS-only one only the `changed` nodes it uses, because it keeps the other nodes' assignments from
        its last snapshot (`translate_endpoints`).  The
        endpoints are a hint: whatever else a target needs now is still read on first lookup.  The pointers
        are read after the state, as `_rebuild` read each before; a publish that moved one since makes that
        target's conditional write fail and the target is rebuilt from a fresh read."""
        pointers = self._threads().submit(self._pointers.get_many, [p.path for p in sorted(targets)])
        nodes: set[str] = set()
        for proxy in targets:
            if (entry := index.get(proxy.path)) is not None:
                kept = changed if proxy not in full else rendered  # None: every node it used is rendered
                nodes |= entry.endpoint_deps if kept is None else entry.endpoint_deps & kept
        wanted = sorted(nodes & state.virtual_nodes.keys())  # never `in state.endpoints`: that would read it
        try:
            list(self._threads().map(state.endpoints.__getitem__, wanted))
        finally:
            found = pointers.result()
        return found

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="recompute-read")
        return self._pool

    def with_endpoints(self, state: MeshState, nodes: Iterable[str]) -> MeshState:
        """`state` with the discovered endpoints of `nodes` (one read per node)."""
        return dataclasses.replace(state, endpoints=self._endpoints.endpoints_for(state.name, nodes))

    def plan(self, state: MeshState, index: dict[str, IndexEntry], resources: Iterable[DependencyKey],
             endpoint_nodes: Iterable[str], *, full: bool = False) -> Plan:
        """Which proxies the change reaches; only those the index cannot settle are resolved (`_resource_plan`)."""
        resources = list(resources)
        changed = {resource_path(k) for k in resources}
        paths = {p.path: p for p in self._graph.proxies(state)}
        retired = frozenset(index.keys() - paths.keys())
        if full:
            return Plan(frozenset(paths.values()), frozenset(), retired)
        if not changed:
            return _endpoint_plan(paths, index, set(endpoint_nodes), retired)
        plan = self._resource_plan(state, paths, index, resources_reach(state, resources), set(endpoint_nodes),
                                   retired)
        return dataclasses.replace(plan, rendered=touched_nodes(resources, endpoint_nodes))

    def _resource_plan(self, state: MeshState, paths: dict[str, ProxyId], index: dict[str, IndexEntry],
                       reach: Reach, nodes: set[str], retired: frozenset[str]) -> Plan:
        """A proxy whose last-published dependencies meet the changed keys is rebuilt without resolving it; one
        that read only what the change left alone can differ only where it enumerated (a router's routes, a
        gateway's routes, the policies given to a target), so only a proxy that read such a place is resolved.
        Every other proxy reads now exactly what it read then: its index entry is its dependencies."""
        rebuild: set[ProxyId] = set()
        eds: set[ProxyId] = set()
        for path, proxy in paths.items():
            old = index.get(path)
            if old is None or not old.published or not reach.changed.isdisjoint(old.deps):
                rebuild.add(proxy)
                continue
            endpoint_deps = old.endpoint_deps
            if not reach.listed.isdisjoint(old.deps):
                read, endpoint_deps = self._graph.dependency_paths(state, proxy)
                if not reach.changed.isdisjoint(read):
                    rebuild.add(proxy)
                    continue
                endpoint_deps = endpoint_deps | old.endpoint_deps
            if not nodes.isdisjoint(endpoint_deps):
                eds.add(proxy)
        return Plan(frozenset(rebuild), frozenset(eds), retired)

    def recompute(self, mesh: str, resources: Iterable[DependencyKey] = (), endpoint_nodes: Iterable[str] = (),
                  *, full: bool = False) -> Outcome:
        """Rebuild and publish the affected proxies of one mesh, retrying those another publisher raced."""
        resources, endpoint_nodes = list(resources), list(endpoint_nodes)
        secrets = self._secrets() if self._secrets is not None else None
        with self._t.timed("RecomputeLatency", "recompute"), collector_paused():  # the batch, not each proxy
            quick = None if resources or full else self._dependents_only(mesh, endpoint_nodes, secrets)
            outcome = quick if quick is not None else self._whole_mesh(mesh, resources, endpoint_nodes, secrets,
                                                                       full=full)
        self._t.count("ProxiesRecomputed", len(outcome.results))
        return outcome

    def _whole_mesh(self, mesh: str, resources: list[DependencyKey], endpoint_nodes: list[str],
                    secrets: Secrets | None, *, full: bool) -> Outcome:
        """The change planned and rebuilt from the whole mesh, in rounds until no publish is raced."""
        outcome = Outcome()
        pending: set[ProxyId] | None = None
        read: dict[str, IndexEntry] | None = None  # the index, when the first round read it already
        if not full and isinstance(self._loader, DependencyLoader) and index_plannable(resources):
            read = self._index.entries(mesh)
            plan = index_plan(read, resources, endpoint_nodes)
            if plan is not None:
                outcome.shards = self._fanout.dispatch(mesh, plan) if self._fanout is not None else 0
                if outcome.shards:  # a hot change sent on from the index: the mesh's resources are never read
                    return outcome
                part = self._from_part(mesh, plan, read, endpoint_nodes, secrets)
                if part is not None:
                    return part
        for _ in range(MAX_ROUNDS):
            try:
                state, entries = self._load_with_index(mesh, endpoints=self._fanout is None or pending is not None,
                                                       entries=read if pending is None else None)
            except NotFound:  # the mesh is gone: forget its proxies' dependencies
                for path in self._index.entries(mesh):
                    self._index.delete(mesh, path)
                break
            plan = self.plan(state, entries, resources, endpoint_nodes, full=full)
            for path in plan.retired:
                self._index.delete(mesh, path)
            if pending is None:
                self._mark_unpublished(mesh, plan, entries)
            targets = plan.full | plan.endpoints_only
            if pending is None and self._fanout is not None:
                outcome.shards = self._fanout.dispatch(mesh, plan, full_pass=full)
                if outcome.shards:
                    break
                state = self.with_endpoints(state, state.virtual_nodes)
            if pending is not None:
                targets &= pending
            changed = frozenset(endpoint_nodes)
            previous = self._prefetch(state, targets, entries, full=plan.full, changed=changed,
                                      rendered=plan.rendered)
            raced: set[ProxyId] = set()
            for proxy in sorted(targets):
                try:
                    outcome.results.append(self.rebuild(state, proxy, previous[proxy.path], changed=changed,
                                                        eds_only=proxy not in plan.full, secrets=secrets,
                                                        rendered=plan.rendered))
                except PointerConflict:
                    raced.add(proxy)
            if not raced:
                break
            pending = raced
        else:
            raise PointerConflict(", ".join(p.path for p in sorted(pending or ())))
        return outcome

    def _mark_unpublished(self, mesh: str, plan: Plan, entries: dict[str, IndexEntry]) -> None:
        """Placeholder entries (`index.placeholder`) for the plan's proxies the index does not know, written before
        any is built: a later change planned from the index alone (`index_plan`) then rebuilds them too, while
        this change's rebuild of them is still in flight (a shard) and after it was refused."""
        missing = [placeholder(proxy.path) for proxy in sorted(plan.full) if proxy.path not in entries]
        if missing:
            self._index.put_many(mesh, missing)

    def _from_part(self, mesh: str, plan: Plan, entries: dict[str, IndexEntry], endpoint_nodes: Collection[str],
                   secrets: Secrets | None) -> Outcome | None:
        """A plan made from the index (`index_plan`) rebuilt from the part of the mesh its proxies read
        (`load_within`), as a shard rebuilds; None where it takes the whole mesh.

        A proxy that reads beyond the part, that is gone, or that another publisher raced sends
        the change down the whole-mesh path, where every target is rebuilt again and any
        published here is found unchanged (as `_dependents_only` does for an endpoint change)."""
        targets = plan.full | plan.endpoints_only
        if not targets:
            return Outcome()
        try:
            part = self.load_within(mesh, targets)
        except NotFound:
            return None
        if part is None or not all(part[0].defines(proxy) for proxy in targets):
            return None
        return self._rebuilt_within(part[0], part[1], targets, entries, full=plan.full,
                                    changed=frozenset(endpoint_nodes), secrets=secrets, rendered=plan.rendered)

    def _rebuilt_within(self, part: MeshState, within: frozenset[str], targets: Collection[ProxyId],
                        entries: dict[str, IndexEntry], *, full: frozenset[ProxyId], changed: frozenset[str],
                        secrets: Secrets | None, rendered: frozenset[str] | None) -> Outcome | None:
        """`targets` rebuilt from `part` of the mesh (holding the dependency paths `within`); None as soon as one
        reads beyond it or was raced, for the caller to take the whole mesh."""
        state = self.with_endpoints(part, part.virtual_nodes)
        previous = self._prefetch(state, targets, entries, full=full, changed=changed, rendered=rendered)
        outcome = Outcome()
        for proxy in sorted(targets):
            try:
                outcome.results.append(self.rebuild(state, proxy, previous[proxy.path], changed=changed,
                                                    eds_only=proxy not in full, secrets=secrets, within=within,
                                                    rendered=rendered))
            except (OutsideDependencies, PointerConflict):
                return None
        return outcome

    def _dependents_only(self, mesh: str, nodes: Collection[str], secrets: Secrets | None) -> Outcome | None:
        """An endpoint change rebuilt from its dependents' own resources; None where it takes the whole mesh.

        The index names the dependents and every resource each was last built from, so only
        those are read (`DependencyLoader.load_dependencies`), not the whole mesh: at 10,000
        nodes that is a few calls instead of dozens of 1 MB Query pages.  Before a rebuild
        publishes, its dependencies are checked to lie within what was read; a dependent that
        reads anything else (it gained a dependency its entry does not show yet), that is gone,
        or that another publisher raced sends the change down the whole-mesh path, where every
        dependent is rebuilt and any published here is found unchanged.  A proxy never
        published is not an endpoint change's to build: its own resource change or the
        scheduled reconcile builds it."""
        if not nodes or not isinstance(self._loader, DependencyLoader):
            return None
        changed = frozenset(nodes)
        entries = self._index.entries(mesh)
        targets = {ProxyId.parse(path): entry for path, entry in entries.items()
                   if not changed.isdisjoint(entry.endpoint_deps)}
        if not targets:
            return Outcome()
        shards = self._fanout.dispatch(mesh, Plan(endpoints_only=frozenset(targets))) if self._fanout else 0
        if shards:
            return Outcome(shards=shards)
        within = frozenset().union(*(entry.deps for entry in targets.values()))
        try:
            with self._t.traced("dynamodb.load_dependencies"):
                state = self._loader.load_dependencies(mesh, within)
        except NotFound:
            return None
        if not all(state.defines(proxy) for proxy in targets):
            return None
        return self._rebuilt_within(state, within, targets, entries, full=frozenset(), changed=changed,
                                    secrets=secrets, rendered=None)

    def rebuild(self, state: MeshState, proxy: ProxyId, previous: Pointer | None, *, eds_only: bool,
                secrets: Secrets | None, changed: Collection[str] | None = None,
                within: frozenset[str] | None = None, rendered: frozenset[str] | None = None) -> Result:
        """Build one proxy from `state` and publish it over `previous`; PointerConflict if that moved since.

        A caller that reads `previous` before loading `state` (the shards do) can never
        overwrite a publish built from a newer state: that publish would have moved it.
        `changed` names the nodes whose endpoints changed for an `eds_only` rebuild (None: any).
        `rendered` (`Plan.rendered`) names, for a full rebuild, the nodes whose assignments are rendered
        again; the others are carried over from the last publish, as an endpoint change carries
        them (None: all rendered).
        `within`, for a `state` that holds only those dependency paths, raises OutsideDependencies
        instead of publishing when the proxy read anything else.
        """
        with self._graph.one_walk():  # the dependencies are read off the walk the translation made
            snapshot, problems, certificates = self._built(state, proxy, previous, eds_only, secrets, changed,
                                                           rendered)
            paths, endpoint_deps = self._graph.dependency_paths(state, proxy)
        deps = paths | _own_keys(proxy)
        if within is not None and not deps <= within:  # `state` is part of the mesh and lacks what it read
            raise OutsideDependencies(proxy.path, frozenset(deps - within))
        return self._publisher.publish(proxy, snapshot, previous, deps, endpoint_deps, problems=problems,
                                       certificates=certificates)

    def _built(self, state: MeshState, proxy: ProxyId, previous: Pointer | None, eds_only: bool,
               secrets: Secrets | None, changed: Collection[str] | None, rendered: frozenset[str] | None
               ) -> tuple[Snapshot, tuple[str, ...], dict[str, str]]:
        """The proxy's snapshot as `rebuild` describes it, the problems found building it and its certificates."""
        snapshot: Snapshot | None = None
        problems: tuple[str, ...] = ()
        certificates = dict(previous.certificates) if previous is not None else {}
        if eds_only:  # the secrets ride along with the other carried-over types: no ACM call
            snapshot = self._endpoints_over(state, proxy, previous, changed)
        if snapshot is None:
            last = self._last(proxy, previous) if rendered is not None and not eds_only else None
            with self._t.traced("translate.full"):
                snapshot = (self._translator.translate(state, proxy) if last is None else
                            self._translator.translate(state, proxy, last.of(XdsType.ENDPOINTS), rendered))
            if secrets is not None:
                with self._t.traced("acm.secrets"):
                    resolved = secrets.resolve(  # the last snapshot, if read for its assignments, is not read again
                        snapshot, lambda: last if last is not None else self._publisher.previous_snapshot(previous),
                        certificates)
                snapshot, problems, certificates = resolved.snapshot, resolved.problems, dict(resolved.stamps)
        return snapshot, problems, certificates

    def _endpoints_over(self, state: MeshState, proxy: ProxyId, previous: Pointer | None,
                        changed: Collection[str] | None) -> Snapshot | None:
        """The last published snapshot with its EDS rendered again, the `changed` nodes' assignments only (all
        when None); None, for a full build instead, when there is no last snapshot or it cannot be read."""
        last = self._last(proxy, previous)
        if last is None:
            return None
        with self._t.traced("translate.endpoints"):
            eds = self._translator.endpoints(state, proxy, last.of(XdsType.ENDPOINTS), changed)
        return Snapshot.build(proxy.path, {**last.resources, XdsType.ENDPOINTS: eds})

    def _last(self, proxy: ProxyId, previous: Pointer | None) -> Snapshot | None:
        """The snapshot `previous` names; None when there is none or it cannot be read (then all is rendered)."""
        try:
            return self._publisher.previous_snapshot(previous)
        except SourceUnavailable as exc:
            self._t.logger.warning("last snapshot unreadable; building in full",
                                   extra={"nodeId": proxy.path, "reason": str(exc)})
            return None
