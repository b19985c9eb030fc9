"""Resolve one proxy's view of a mesh: virtual services → routers/routes → virtual node listeners.

The resolver records every resource key it looks at (found or not), so the same walk
answers "what does this proxy depend on" for the incremental dependency index.  Within
`one_walk`, a thread keeps its last resolution: a rebuild translates a proxy and then
records its dependencies, both from one state, and the second asks for the walk the first
made.  Outside it nothing is kept, so a resolution is freed as soon as its caller is done.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from meshplane.graph import extensions, mirror, names, policies
from meshplane.graph.memo import ContentKeys, per_state
from meshplane.graph.order import route_sort_key
from meshplane.graph.policy_gaps import http_only_gaps
from meshplane.graph.route_fit import ROUTE_TYPES
from meshplane.graph.view import (
    HTTP_FAMILY,
    ClientTls,
    GatewayRouteView,
    IngressListener,
    Protocol,
    ProxyView,
    RouteView,
    ServicePort,
    Target,
    Upstream,
)
from meshplane.model import shapes
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.model.policy.applied import NO_SECTIONS, Sections
from meshplane.model.policy.keys import DependencyKey, PolicyKey
from meshplane.model.state import MeshState

# (attribute of a GatewayRouteSpec, the listener protocol it serves)
GATEWAY_ROUTE_TYPES: tuple[tuple[str, Protocol], ...] = (
    ("http_route", "http"),
    ("http2_route", "http2"),
    ("grpc_route", "grpc"),
)


class UnknownProxyError(LookupError):
    """The proxy names a mesh, virtual node or virtual gateway that this state does not hold."""


class Resolver:
    """One walk over a mesh for one proxy; collects the keys and endpoint sets it touched.

    Reads are recorded as plain names per kind (cheap to hash in the hot loop) and turned
    into `ResourceKey`s only when `keys` is asked for.
    """

    def __init__(self, state: MeshState) -> None:
        self.state = state
        self.mesh = state.name
        self._seen: dict[Kind, set[str]] = {Kind.VIRTUAL_NODE: set(), Kind.VIRTUAL_SERVICE: set()}
        self._routers: set[str] = set()
        self._routed: set[str] = set()  # routers whose routes were listed
        self._other: set[ResourceKey] = set()  # beyond the mesh's own key, which `keys` always holds
        self._policies: set[str] = set()  # the policies whose sections this walk used
        self._nodes_seen = self._seen[Kind.VIRTUAL_NODE]
        self._services_seen = self._seen[Kind.VIRTUAL_SERVICE]
        self.endpoint_nodes: set[str] = set()
        self.upstreams: dict[str, Upstream] = {}
        self.problems: list[str] = []
        self._shared = per_state(state, "graph.upstreams", _shared_upstreams)
        self._shared.resolvers += 1
        # The first proxy resolved from a state walks and builds for itself alone: what it would
        # record pays off only for proxies after it, and a recompute of one proxy has none.
        self.first_of_state = self._shared.resolvers == 1
        self._events: list[Event] | None = None  # while a walk is recorded (`_recorded`)

    @property
    def keys(self) -> set[DependencyKey]:
        """Every resource key read so far, found or not, and every policy whose sections were used."""
        out: set[DependencyKey] = {ResourceKey(Kind.MESH, self.mesh, self.mesh), *self._other}
        out.update(PolicyKey(self.mesh, name) for name in self._policies)
        for kind, names_ in self._seen.items():
            out.update(ResourceKey(kind, self.mesh, n) for n in names_)
        out.update(ResourceKey(Kind.VIRTUAL_ROUTER, self.mesh, router) for router in self._routers)
        for router in self._routed:
            out.update(ResourceKey(Kind.ROUTE, self.mesh, r.route_name, router) for r in self._router_routes(router))
        return out

    @property
    def paths(self) -> set[str]:
        """`keys` as their paths (`ResourceKey.path`, `PolicyKey.path`), the dependency index's names for them,
        made from the names read without building the keys."""
        mesh = f"mesh/{self.mesh}"
        out = {mesh, *(key.path for key in self._other)}
        out.update(PolicyKey(self.mesh, name).path for name in self._policies)
        for kind, names_ in self._seen.items():
            prefix = f"{mesh}/{kind.value}/"
            out.update(prefix + name for name in names_)
        routers = f"{mesh}/{Kind.VIRTUAL_ROUTER.value}/"
        out.update(routers + router for router in self._routers)
        for router in self._routed:
            prefix = f"{routers}{router}/{Kind.ROUTE.value}/"
            out.update(prefix + route.route_name for route in self._router_routes(router))
        return out

    def saw(self, key: ResourceKey) -> None:
        """Record a key read outside the lookups below (the proxy itself, gateway routes)."""
        self._other.add(key)

    # -- lookups that record what they read -------------------------------------------------
    def node(self, name: str) -> shapes.VirtualNodeData | None:
        self._nodes_seen.add(name)
        return self.state.virtual_nodes.get(name)

    def service(self, name: str) -> shapes.VirtualServiceData | None:
        self._services_seen.add(name)
        return self.state.virtual_services.get(name)

    def router(self, name: str) -> shapes.VirtualRouterData | None:
        self._routers.add(name)
        return self.state.virtual_routers.get(name)

    def routes_of(self, router: str) -> list[shapes.RouteData]:
        self._routed.add(router)  # the routes found are recorded in `keys`
        return self._router_routes(router)

    def _router_routes(self, router: str) -> list[shapes.RouteData]:
        return per_state(self.state, "routes_by_router", _routes_by_router).get(router, [])

    def tags(self, key: ResourceKey) -> dict[str, str]:
        if not self.state.tags:
            return {}
        return dict(self.state.tags.get(key, {}))

    def policies(self, key: ResourceKey, attrs: tuple[str, ...]) -> Sections:
        """The policy sections among `attrs` that apply to `key`; the policies used are recorded."""
        found, conflicts = policies.sections(self.state, key, attrs)
        self._policies.update(found.sources)
        for conflict in conflicts:
            self.problem_once(conflict)
        return found

    def hash_headers(self, targets: tuple[Target, ...]) -> tuple[str, ...]:
        """Consistent hashing needs the route to say what to hash: the targets' chosen headers."""
        found = {
            u.balancing.hash_header
            for t in targets
            if (u := self.upstreams.get(t.cluster)) is not None and u.balancing and u.balancing.hash_header
        }
        return tuple(sorted(found))

    # -- resolution -----------------------------------------------------------------------
    def service_ports(self, service: str, tls: ClientTls | None) -> tuple[ServicePort, ...]:
        """The service's ports as a caller reaching it with `tls` sees them.

        They, and what walking to them reads and reports, are the same for every caller of one
        state that reaches the service with the same TLS policy: the walk is recorded (`Walk`) the
        first time and replayed for this caller and every later one instead of walked again.
        The first proxy of a state walks without recording (`first_of_state`)."""
        if self.first_of_state:
            return self._walk(service, tls)
        key = service if tls is None else (service, self._shared.keys.of(tls))
        walks = self._shared.walks
        walk = walks.get(key)
        if walk is None:
            walk = walks[key] = self._recorded(service, tls)
        self._replay(walk)
        return walk.ports

    def _walk(self, service: str, tls: ClientTls | None) -> tuple[ServicePort, ...]:
        data = self.service(service)
        if data is None:
            self._report(f"backend virtual service {service!r} does not exist")
            return ()
        provider = data.spec.provider
        if provider is None:
            self._report(f"virtual service {service!r} has no provider")
            return ()
        if provider.virtual_node is None:  # a union: exactly one member is set
            assert provider.virtual_router is not None
            return self._router_provided(service, provider.virtual_router.virtual_router_name, tls)
        node_name = provider.virtual_node.virtual_node_name
        node = self.node(node_name)
        if node is None:
            self._report(f"provider virtual node {node_name!r} of {service!r} does not exist")
            return ()
        return tuple([_node_port(service, self.upstream(node, li, tls)) for li in node.spec.listeners or ()])

    def _recorded(self, service: str, tls: ClientTls | None) -> Walk:
        """What `_walk` reads, reports and returns on empty records (as if no other backend had been resolved)."""
        data = self.state.virtual_services.get(service)
        provider = data.spec.provider if data is not None else None
        if provider is not None and provider.virtual_node is not None:
            node = self.state.virtual_nodes.get(provider.virtual_node.virtual_node_name)
            if node is not None:
                return self._node_walk(service, node, tls)
        return self._swapped(service, tls)

    def _node_walk(self, service: str, node: shapes.VirtualNodeData, tls: ClientTls | None) -> Walk:
        """The walk of a service its existing virtual node provides, recorded as it is built (`_walk`)."""
        ports = []
        events: list[Event] = []
        for listener in node.spec.listeners or ():
            pm = listener.port_mapping
            name = names.egress_cluster(self.mesh, node.virtual_node_name, pm.protocol, pm.port)
            built = self._built(name, node, listener, tls)
            ports.append(_node_port(service, built[0]))
            events.append((name, built, False))
        return Walk.of(tuple(ports), (node.virtual_node_name,), (service,), (), (), (), events)

    def _swapped(self, service: str, tls: ClientTls | None) -> Walk:
        """`_walk` run on empty records, swapped in for it, then kept as a `Walk`."""
        kept = (self._nodes_seen, self._services_seen, self._routers, self._routed, self._policies, self.problems,
                self.upstreams)  # fmt: skip
        self._nodes_seen, self._services_seen, self._routers, self._routed = set(), set(), set(), set()
        self._policies, self.problems, self.upstreams, self._events = set(), [], {}, []
        try:
            ports = self._walk(service, tls)
            walk = Walk.of(ports, self._nodes_seen, self._services_seen, self._routers, self._routed, self._policies,
                           self._events)
        finally:
            (self._nodes_seen, self._services_seen, self._routers, self._routed, self._policies, self.problems,
             self.upstreams) = kept  # fmt: skip
            self._events = None
        return walk

    def _replay(self, walk: Walk) -> None:
        """What the recorded walk read and reported, as walking it here would have."""
        self._nodes_seen.update(walk.nodes)
        self._services_seen.update(walk.services)
        if walk.routers:
            self._routers.update(walk.routers)
            self._routed.update(walk.routed)
        if walk.policies:
            self._policies.update(walk.policies)
        upstreams = self.upstreams
        if walk.adopted is not None:  # upstreams only, none with a problem or a policy: their order is moot
            for name, upstream in walk.adopted:
                if name not in upstreams:
                    upstreams[name] = upstream
            self.endpoint_nodes.update(walk.endpoint_nodes)
            return
        for name, built, once in walk.events:
            if built is not None:
                if name not in upstreams:
                    self._adopt(name, built)
            elif once:
                self.problem_once(name)
            else:
                self.problems.append(name)

    def _report(self, problem: str) -> None:
        self.problems.append(problem)
        if self._events is not None:
            self._events.append((problem, None, False))

    def _router_provided(self, service: str, router_name: str, tls: ClientTls | None) -> tuple[ServicePort, ...]:
        router = self.router(router_name)
        if router is None:
            self._report(f"provider virtual router {router_name!r} of {service!r} does not exist")
            return ()
        routes = self.routes_of(router_name)
        out = []
        for rl in router.spec.listeners or ():
            pm = rl.port_mapping
            views = [v for r in routes if (v := self._route(r, pm.port, pm.protocol, tls)) is not None]
            views.sort(key=route_sort_key)
            out.append(ServicePort(service, pm.port, pm.protocol, tuple(views)))
        return tuple(out)

    def _route(self, route: shapes.RouteData, port: int, protocol: str, tls: ClientTls | None) -> RouteView | None:
        spec = route.spec
        for attr, _, kind in ROUTE_TYPES:
            body = getattr(spec, attr)
            if body is None:
                continue
            match_port = body.match.port if body.match is not None else None
            if match_port is not None and match_port != port:
                return None
            if kind != protocol:  # the API refuses this; a route that got past it is named, not dropped
                self.problem_once(
                    f"route {route.route_name!r} of virtual router {route.virtual_router_name!r}: a {kind} route "
                    f"cannot serve the {protocol} listener {port}; it is left out"
                )
                return None
            targets = self._targets(body.action.weighted_targets, tls, route.route_name)
            if not targets:
                return None
            priority = spec.priority if spec.priority is not None else 1001
            fault = None
            key = ResourceKey(Kind.ROUTE, self.mesh, route.route_name, route.virtual_router_name)
            tags = self.tags(key) if kind != "tcp" else None
            if tags:  # untagged (most routes): no fault to read
                fault = extensions.fault(tags, f"route {route.route_name!r}", self._report)
            sections = self.policies(key, policies.ROUTE)
            shadow = mirror.shadow_cluster(self, sections.mirror, route.route_name, kind, targets, tls)
            return RouteView(
                route.route_name, priority, kind, body, targets, fault=fault, hash_headers=self.hash_headers(targets),
                policies=sections, mirror_cluster=shadow,
            )
        return None

    def problem_once(self, problem: str) -> None:
        """Record `problem` once, however many services or listeners lead to it."""
        if problem not in self.problems:
            self.problems.append(problem)
        if self._events is not None:
            self._events.append((problem, None, True))

    def _targets(self, weighted: list[shapes.WeightedTarget], tls: ClientTls | None, route: str) -> tuple[Target, ...]:
        weights: dict[str, int] = {}
        for wt in weighted:
            node = self.node(wt.virtual_node)
            listener = _listener_for(node, wt.port) if node is not None else None
            if node is None or listener is None:
                self._report(f"route {route!r}: target {wt.virtual_node!r} port {wt.port} is not resolvable")
                continue
            cluster = self.upstream(node, listener, tls).cluster
            weights[cluster] = weights.get(cluster, 0) + wt.weight
        if sum(weights.values()) <= 0:
            return ()
        return tuple(Target(c, w) for c, w in weights.items())

    def upstream(self, node: shapes.VirtualNodeData, listener: shapes.Listener, tls: ClientTls | None) -> Upstream:
        """The node's listener as this proxy reaches it: the first TLS policy that reaches it wins.

        Every caller of one state that reaches it with the same TLS policy gets the same
        upstream, so it is built once per state (`SharedUpstreams`); each caller still records
        what building it reads and reports."""
        pm = listener.port_mapping
        name = names.egress_cluster(self.mesh, node.virtual_node_name, pm.protocol, pm.port)
        existing = self.upstreams.get(name)
        if existing is not None:
            return existing
        built = self._built(name, node, listener, tls)
        if self._events is not None:
            self._events.append((name, built, False))
        return self._adopt(name, built)

    def _built(self, name: str, node: shapes.VirtualNodeData, listener: shapes.Listener,
               tls: ClientTls | None) -> BuiltUpstream:
        """The upstream `name` (the node listener's egress cluster) as built once per state for the TLS
        policy that applies (by the state's first proxy, for itself alone)."""
        port = listener.port_mapping.port
        applies = tls is not None and (not tls.ports or port in tls.ports) and tls.enforce is not False
        if self.first_of_state:
            return _build_upstream(self, node, listener, tls if applies else None, name)
        key = (name, self._shared.keys.of(tls) if applies else None)
        built = self._shared.built.get(key)
        if built is None:
            built = self._shared.built[key] = _build_upstream(self, node, listener, tls if applies else None, name)
        return built

    def _adopt(self, name: str, built: BuiltUpstream) -> Upstream:
        """The upstream `name` as built for this state, with what building it read and reported."""
        upstream, reported, sources, conflicts = built
        if reported:
            self.problems.extend(reported)
        if sources:
            self._policies.update(sources)
        for conflict in conflicts:  # kept by the upstream's own event, not recorded again
            if conflict not in self.problems:
                self.problems.append(conflict)
        if upstream.uses_endpoints:
            self.endpoint_nodes.add(upstream.node)
        self.upstreams[name] = upstream
        return upstream

    def ip_preference(self, sd: shapes.ServiceDiscovery | None) -> str | None:
        """A node's own preference wins over the mesh's (gateways have none of their own)."""
        if sd is not None:
            value = sd.aws_cloud_map if sd.aws_cloud_map is not None else sd.dns
            if value is not None and value.ip_preference is not None:
                return value.ip_preference
        mesh_sd = self.state.mesh.spec.service_discovery
        return mesh_sd.ip_preference if mesh_sd is not None else None


# An upstream as built once per state: it, the problems building it reported (in order), the
# policies whose sections it uses, and the policy conflicts found on its node.
BuiltUpstream = tuple[Upstream, tuple[str, ...], tuple[str, ...], tuple[str, ...]]


# What a recorded walk did, in order: an upstream adopted (its name, as built), or a problem reported
# (the problem, None, and True where it is reported only if it is not already).
Event = tuple[str, BuiltUpstream | None, bool]


class Walk:
    """A service's ports as `Resolver.service_ports` walked to them, and every name the walk read
    (virtual nodes, services, routers, routers whose routes it listed, policies used) and did."""

    __slots__ = ("adopted", "endpoint_nodes", "events", "nodes", "policies", "ports", "routed", "routers", "services")

    def __init__(self, ports: tuple[ServicePort, ...], nodes: tuple[str, ...], services: tuple[str, ...],
                 routers: tuple[str, ...], routed: tuple[str, ...], policies_used: tuple[str, ...],
                 events: tuple[Event, ...]) -> None:
        self.ports, self.nodes, self.services, self.routers, self.routed = ports, nodes, services, routers, routed
        self.policies, self.events = policies_used, events
        # Where every event adopts an upstream that reports nothing and uses no policy: each (name,
        # upstream), and the nodes whose endpoints they carry.
        self.adopted: tuple[tuple[str, Upstream], ...] | None = None
        self.endpoint_nodes: tuple[str, ...] = ()
        if all(built is not None and not built[1] and not built[2] and not built[3] for _, built, _ in events):
            self.adopted = tuple((name, built[0]) for name, built, _ in events if built is not None)
            self.endpoint_nodes = tuple(u.node for _, u in self.adopted if u.uses_endpoints)

    @classmethod
    def of(cls, ports: tuple[ServicePort, ...], nodes: Collection[str], services: Collection[str],
           routers: Collection[str], routed: Collection[str], policies_used: Collection[str],
           events: list[Event]) -> Walk:
        return cls(ports, tuple(nodes), tuple(services), tuple(routers), tuple(routed), tuple(policies_used),
                   tuple(events))


def _node_port(service: str, upstream: Upstream) -> ServicePort:
    """A service its virtual node provides, on the node's listener `upstream` reaches: one implicit route to it."""
    balancing = upstream.balancing
    hashed = (balancing.hash_header,) if balancing is not None and balancing.hash_header else ()
    protocol = upstream.protocol
    route = RouteView("default", 0, protocol, None, (Target(upstream.cluster, 100),), None, hashed)
    return ServicePort(service, upstream.port, protocol, (route,))


class SharedUpstreams:
    """The upstreams of one state, by cluster name and TLS policy content (`graph.memo.per_state`),
    its services' walks by name and TLS policy content, and how many resolvers the state has had."""

    def __init__(self) -> None:
        self.resolvers = 0
        self.built: dict[tuple[str, str | None], BuiltUpstream] = {}
        self.walks: dict[str | tuple[str, str | None], Walk] = {}
        self.keys = ContentKeys()


def _build_upstream(resolver: Resolver, node: shapes.VirtualNodeData, listener: shapes.Listener,
                    tls: ClientTls | None, name: str) -> BuiltUpstream:
    """What `Resolver.upstream` shares: nothing in it depends on the calling proxy."""
    pm = listener.port_mapping
    reported: list[str] = []
    balancing = None
    found: Sections = NO_SECTIONS
    conflicts: tuple[str, ...] = ()
    if resolver.state.tags or resolver.state.policies:  # else nothing is tagged, no policy applies
        node_key = ResourceKey(Kind.VIRTUAL_NODE, resolver.mesh, node.virtual_node_name)
        tags = resolver.tags(node_key)
        if tags:
            balancing = extensions.balancing(tags, f"virtual node {node.virtual_node_name!r}", reported.append)
        found, conflicts = policies.sections(resolver.state, node_key, policies.UPSTREAM)
    upstream = Upstream(
        cluster=name,
        node=node.virtual_node_name,
        port=pm.port,
        protocol=pm.protocol,
        discovery=node.spec.service_discovery,
        ip_preference=resolver.ip_preference(node.spec.service_discovery),
        health_check=listener.health_check,
        outlier_detection=listener.outlier_detection,
        tls=tls,
        balancing=balancing,
        policies=found,
    )
    return upstream, tuple(reported), tuple(found.sources), tuple(conflicts)


def _shared_upstreams(state: MeshState) -> SharedUpstreams:
    return SharedUpstreams()


def _routes_by_router(state: MeshState) -> dict[str, list[shapes.RouteData]]:
    """Routes grouped by router once per state, not scanned once per router."""
    grouped: dict[str, list[shapes.RouteData]] = {}
    for (parent, _), route in state.routes.items():
        grouped.setdefault(parent, []).append(route)
    return grouped


def _listener_for(node: shapes.VirtualNodeData, port: int | None) -> shapes.Listener | None:
    listeners = node.spec.listeners or []
    if port is None:
        return listeners[0] if listeners else None
    return next((li for li in listeners if li.port_mapping.port == port), None)


def _backend_tls(backend: shapes.VirtualServiceBackend, defaults: shapes.BackendDefaults | None) -> ClientTls | None:
    if backend.client_policy is not None and backend.client_policy.tls is not None:
        return backend.client_policy.tls
    if defaults is not None and defaults.client_policy is not None:
        return defaults.client_policy.tls
    return None


_LAST = threading.local()  # within `one_walk`, each thread's last resolution
_by_cluster = operator.attrgetter("cluster")
_by_port_and_service = operator.attrgetter("port", "service")


def _allow_all(state: MeshState) -> bool:
    ef = state.mesh.spec.egress_filter
    return ef is not None and ef.type == "ALLOW_ALL"


def resolve(state: MeshState, proxy: ProxyId) -> tuple[ProxyView, Resolver]:
    """Build the view of `proxy`, plus the resolver that saw every key it depends on (neither is changed after:
    within `one_walk` the same pair is handed out again on this thread for this state and proxy)."""
    if not getattr(_LAST, "keeping", False):
        return _resolve(state, proxy)
    held: tuple[MeshState, ProxyId, tuple[ProxyView, Resolver]] | None = getattr(_LAST, "resolved", None)
    if held is not None and held[0] is state and held[1] == proxy:
        return held[2]
    resolved = _resolve(state, proxy)
    _LAST.resolved = (state, proxy, resolved)
    return resolved


@contextmanager
def one_walk() -> Iterator[None]:
    """This thread resolves a state's proxy once in the block, however often it is asked for (the last one kept);
    what was kept is dropped when the block ends."""
    outer = getattr(_LAST, "keeping", False)
    _LAST.keeping = True
    try:
        yield
    finally:
        _LAST.keeping = outer
        if not outer:
            _LAST.resolved = None


def _resolve(state: MeshState, proxy: ProxyId) -> tuple[ProxyView, Resolver]:
    if proxy.mesh != state.name:
        raise UnknownProxyError(f"{proxy} is not in mesh {state.name!r}")
    resolver = Resolver(state)
    if proxy.is_gateway:
        return _gateway_view(state, proxy, resolver), resolver
    resolver.node(proxy.name)  # its key read, as `saw` would record it
    node = state.virtual_nodes.get(proxy.name)
    if node is None:
        raise UnknownProxyError(f"no virtual node {proxy.name!r} in mesh {proxy.mesh!r}")
    spec = node.spec
    # App Mesh: an IPv6 preference makes the sidecar reach its own app over IPv6.
    app_address = "::1" if (resolver.ip_preference(spec.service_discovery) or "").startswith("IPv6") else "127.0.0.1"
    listeners = tuple(
        IngressListener(
            port=li.port_mapping.port,
            protocol=li.port_mapping.protocol,
            cluster=names.ingress_cluster(proxy.mesh, proxy.name, li.port_mapping.protocol, li.port_mapping.port),
            tls=li.tls,
            timeout=li.timeout,
            connection_pool=li.connection_pool,
            app_address=app_address,
        )
        for li in spec.listeners or ()
    )
    services: list[ServicePort] = []
    defaults = spec.backend_defaults
    for backend in spec.backends or ():
        vs = backend.virtual_service
        if vs is not None:
            tls = _backend_tls(vs, defaults) if vs.client_policy is not None or defaults is not None else None
            services.extend(resolver.service_ports(vs.virtual_service_name, tls))
    access_log = spec.logging.access_log.file if spec.logging and spec.logging.access_log else None
    deduped = _dedupe(services)
    resolver.problems.extend(port_clashes(deduped))
    own = NO_SECTIONS
    if state.policies:  # else no section applies (`policies.sections`)
        own = resolver.policies(ResourceKey(Kind.VIRTUAL_NODE, proxy.mesh, proxy.name), policies.PROXY)
        resolver.problems.extend(http_only_gaps(own, listeners))
    view = ProxyView(
        proxy=proxy,
        listeners=listeners,
        services=deduped,
        upstreams=tuple(sorted(resolver.upstreams.values(), key=_by_cluster)),
        allow_all=_allow_all(state),
        access_log=access_log,
        problems=tuple(resolver.problems),
        policies=own,
    )
    if state.policies and view.zone_aware:
        resolver.endpoint_nodes.add(proxy.name)  # its own instances by zone: Envoy's local cluster (zoneAware)
    return view, resolver


def _gateway_view(state: MeshState, proxy: ProxyId, resolver: Resolver) -> ProxyView:
    resolver.saw(ResourceKey(Kind.VIRTUAL_GATEWAY, proxy.mesh, proxy.name))
    gateway = state.virtual_gateways.get(proxy.name)
    if gateway is None:
        raise UnknownProxyError(f"no virtual gateway {proxy.name!r} in mesh {proxy.mesh!r}")
    spec = gateway.spec
    defaults = spec.backend_defaults
    tls = defaults.client_policy.tls if defaults is not None and defaults.client_policy is not None else None
    listeners = tuple(
        IngressListener(
            port=li.port_mapping.port,
            protocol=li.port_mapping.protocol,
            cluster=names.self_redirect_cluster(proxy.mesh, proxy.name, li.port_mapping.protocol, li.port_mapping.port),
            tls=li.tls,
            timeout=None,
            connection_pool=li.connection_pool,
            health_check=_own_health_check(li, resolver),
        )
        for li in spec.listeners
    )
    services: list[ServicePort] = []
    routes: list[GatewayRouteView] = []
    for (parent, name), data in sorted(state.gateway_routes.items()):
        if parent != proxy.name:
            continue
        resolver.saw(ResourceKey(Kind.GATEWAY_ROUTE, proxy.mesh, name, parent))
        view = _gateway_route(data, resolver, tls, services)
        if view is not None:
            routes.append(view)
    routes.sort(key=lambda r: (r.priority, -_prefix_len(r), r.name))
    access_log = spec.logging.access_log.file if spec.logging and spec.logging.access_log else None
    own = resolver.policies(ResourceKey(Kind.VIRTUAL_GATEWAY, proxy.mesh, proxy.name), policies.PROXY)
    return ProxyView(
        proxy=proxy,
        listeners=listeners,
        services=_dedupe(services),
        upstreams=tuple(sorted(resolver.upstreams.values(), key=_by_cluster)),
        allow_all=False,
        access_log=access_log,
        gateway_routes=tuple(routes),
        problems=tuple(resolver.problems),
        policies=own,
    )


def _own_health_check(
    listener: shapes.VirtualGatewayListener, resolver: Resolver
) -> shapes.VirtualGatewayHealthCheckPolicy | None:
    """The gateway answers an HTTP health check on its listener; gRPC's health protocol needs a
    real service behind it, so that one is reported instead of faked."""
    check = listener.health_check
    if check is None:
        return None
    where = f"virtual gateway listener {listener.port_mapping.port}: health check"
    if check.protocol == "grpc":
        resolver.problems.append(f"{where} over grpc is not answered by the gateway")
        return None
    if not check.path:
        resolver.problems.append(f"{where} over {check.protocol} has no path")
        return None
    if check.port is not None and check.port != listener.port_mapping.port:
        resolver.problems.append(f"{where} port {check.port} is not the listener port")
        return None
    return check


def _gateway_route(
    data: shapes.GatewayRouteData, resolver: Resolver, tls: ClientTls | None, services: list[ServicePort]
) -> GatewayRouteView | None:
    spec = data.spec
    for attr, kind in GATEWAY_ROUTE_TYPES:
        body = getattr(spec, attr)
        if body is None:
            continue
        target = body.action.target
        service = target.virtual_service.virtual_service_name
        ports = resolver.service_ports(service, tls)
        services.extend(ports)
        port = target.port if target.port is not None else (ports[0].port if ports else None)
        if port is None or not any(p.port == port for p in ports):
            resolver.problems.append(f"gateway route {data.gateway_route_name!r}: target {service!r} has no port")
            return None
        priority = spec.priority if spec.priority is not None else 1001
        key = ResourceKey(Kind.GATEWAY_ROUTE, resolver.mesh, data.gateway_route_name, data.virtual_gateway_name)
        return GatewayRouteView(data.gateway_route_name, priority, kind, body, service, port,
                                policies=resolver.policies(key, policies.GATEWAY_ROUTE))
    return None


def _prefix_len(route: GatewayRouteView) -> int:
    prefix = getattr(route.spec.match, "prefix", None)
    return len(prefix) if prefix else 0


def _dedupe(services: list[ServicePort]) -> tuple[ServicePort, ...]:
    """A service named by two backends (or two gateway routes) is rendered once."""
    seen: dict[tuple[str, int], ServicePort] = {}
    for sp in services:
        seen.setdefault((sp.service, sp.port), sp)
    return tuple(sorted(seen.values(), key=_by_port_and_service))


def port_clashes(services: tuple[ServicePort, ...]) -> list[str]:
    """Backends the egress listener cannot tell apart: without a Host header only the port
    picks a filter chain, so an HTTP service owns its port and the first TCP service takes
    a port nobody else has.  Every loser is named here (the translator logs these)."""
    routed_tcp = [sp for sp in services if sp.protocol == "tcp" and sp.routes]
    if not routed_tcp:  # most proxies: nothing can clash
        return []
    http = {sp.port: sp.service for sp in services if sp.protocol in HTTP_FAMILY}
    tcp: dict[int, str] = {}
    out = []
    for sp in routed_tcp:
        owner = http.get(sp.port)
        if owner is not None:
            out.append(
                f"egress port {sp.port}: TCP service {sp.service!r} clashes with HTTP service {owner!r}, "
                f"only {owner!r} is reachable"
            )
        elif sp.port in tcp:
            out.append(
                f"egress port {sp.port}: TCP services {tcp[sp.port]!r} and {sp.service!r} share it, "
                f"only {tcp[sp.port]!r} is reachable"
            )
        else:
            tcp[sp.port] = sp.service
    return out
