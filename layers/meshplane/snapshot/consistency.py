"""go-control-plane style snapshot checks: no dangling EDS/RDS/SDS names, no clashing listeners,
no address or port that Envoy would refuse.

Envoy silently waits forever for a resource a snapshot references but never sends
(clusters stuck warming), and rejects a whole update over one malformed endpoint
address, so the pipeline refuses to publish a snapshot with problems.  The address
checks (`model.addresses`) run on every publish, endpoint-only ones included:
they are the last line behind the checks where events enter.

Why facts per resource: what the check needs of one cluster, listener or assignment (the
EDS name it reads, the routes and secrets it references, the address it binds, its own
address problems) depends on that resource's name and bytes alone, and the proxies of a
hot change share most of their resources.  So those facts are kept per (type, name,
packed bytes) (`FactsCache`): a resource seen before is neither parsed nor walked again,
and a bad one seen again brings back the same problems.  Only the cross-resource part
(what is referenced against what is sent) runs per snapshot, on sets of names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from google.protobuf.message import Message

from meshplane.model.addresses import MAX_PORT, InvalidAddress, hostname, ip_address, port, shown
from meshplane.model.policy.zone_aware import LOCAL_CLUSTER
from meshplane.snapshot.snapshot import PackedResources, Snapshot
from meshplane.snapshot.transform import SecretRef, cluster_secret_refs, listener_secret_refs, route_names
from meshplane.snapshot.types import XdsType

_DNS_TYPES = frozenset({cluster_pb2.Cluster.STRICT_DNS, cluster_pb2.Cluster.LOGICAL_DNS})
CACHE_BYTES = 32 * 1024 * 1024  # packed bytes a warm container keeps facts for; cleared whole beyond it
_ENTRY_BYTES = 512  # what an entry holds beside its name and bytes (key tuple, facts, dict slot), about


class Facts(NamedTuple):
    """What the check needs of one resource, worked out from its name and message alone."""

    problems: tuple[str, ...] = ()  # its own address problems
    eds: str | None = None  # a cluster's EDS name, when it is an EDS cluster
    bind: tuple[str, int] | None = None  # a listener's socket address
    routes: tuple[str, ...] = ()  # a listener's RDS names
    secrets: tuple[SecretRef, ...] = ()  # its ADS secret references


def _socket_problem(address: address_pb2.Address, host: Callable[[object], str]) -> str | None:
    """What is wrong with a socket address; pipes and internal addresses have no host or port to check."""
    if address.WhichOneof("address") != "socket_address":
        return None
    try:
        host(address.socket_address.address)
        port(address.socket_address.port_value)
    except InvalidAddress as invalid:
        return str(invalid)
    return None


def _assignment_problems(where: str, assignment: endpoint_pb2.ClusterLoadAssignment,
                         host: Callable[[object], str]) -> Iterator[str]:
    """Each endpoint's address must be an IP (a host name in a DNS cluster) with a port Envoy can dial."""
    for locality in assignment.endpoints:
        for lb in locality.lb_endpoints:
            endpoint = lb.endpoint
            problem = _socket_problem(endpoint.address, host)
            if problem is not None:
                yield f"{where}: endpoint {shown(endpoint.address.socket_address.address)}: {problem}"
            health_port = endpoint.health_check_config.port_value
            if health_port > MAX_PORT:
                yield f"{where}: endpoint health check port {health_port} is over {MAX_PORT}"


def _listen_address(value: object) -> str:
    """A listener may bind the unspecified address (every interface), unlike an endpoint."""
    return str(value) if value in ("0.0.0.0", "::") else ip_address(value)


def _assignment_facts(name: str, assignment: Message) -> Facts:
    assert isinstance(assignment, endpoint_pb2.ClusterLoadAssignment)
    return Facts(problems=tuple(_assignment_problems(f"EDS {name!r}", assignment, ip_address)))


def _cluster_facts(name: str, cluster: Message) -> Facts:
    assert isinstance(cluster, cluster_pb2.Cluster)
    problems: tuple[str, ...] = ()
    if cluster.HasField("load_assignment"):
        host = hostname if cluster.type in _DNS_TYPES else ip_address
        problems = tuple(_assignment_problems(f"cluster {name!r}", cluster.load_assignment, host))
    eds = (cluster.eds_cluster_config.service_name or name) if cluster.type == cluster_pb2.Cluster.EDS else None
    return Facts(problems=problems, eds=eds, secrets=tuple(cluster_secret_refs(name, cluster)))


def _listener_facts(name: str, listener: Message) -> Facts:
    assert isinstance(listener, listener_pb2.Listener)
    sock = listener.address.socket_address
    problem = _socket_problem(listener.address, _listen_address)
    return Facts(problems=() if problem is None else (f"listener {name!r}: {problem}",),
                 bind=(sock.address, sock.port_value), routes=tuple(route_names(listener)),
                 secrets=tuple(listener_secret_refs(name, listener)))


_FACTS: dict[XdsType, Callable[[str, Message], Facts]] = {
    XdsType.ENDPOINTS: _assignment_facts, XdsType.CLUSTERS: _cluster_facts, XdsType.LISTENERS: _listener_facts}


class FactsCache:
    """Facts by (type, name, packed bytes), shared by the threads of a warm container.

    The key holds the bytes themselves, so a hit is a resource exactly like one checked
    before (its facts are a function of name and bytes); bounded by the bytes it holds, each
    entry's own upkeep counted.
    """

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self._limit = limit
        self._held = 0
        self._facts: dict[tuple[XdsType, str, bytes], Facts] = {}
        self._lock = threading.Lock()

    def of(self, kind: XdsType, resources: Mapping[str, Message]) -> list[tuple[str, Facts]]:
        """The facts of every resource of one type, in name order; a message is read only when its bytes
        are new (a `PackedResources` holds them; other mappings are worked out each time)."""
        facts = _FACTS[kind]
        if not isinstance(resources, PackedResources):
            return [(name, facts(name, resources[name])) for name in sorted(resources)]
        out = []
        for name in sorted(resources.raw):
            raw = resources.raw[name]
            key = (kind, name, raw)
            found = self._facts.get(key)
            if found is None:
                found = facts(name, resources[name])
                self._keep(key, found)
            out.append((name, found))
        return out

    def _keep(self, key: tuple[XdsType, str, bytes], facts: Facts) -> None:
        size = len(key[2]) + len(key[1]) + _ENTRY_BYTES
        with self._lock:
            if self._held + size > self._limit:
                self._facts.clear()
                self._held = 0
            if key not in self._facts:
                self._facts[key] = facts
                self._held += size

    def __len__(self) -> int:
        return len(self._facts)


FACTS = FactsCache()


def address_problems(snapshot: Snapshot, cache: FactsCache = FACTS) -> list[str]:
    """Every endpoint, DNS host and listener address of the snapshot that Envoy would refuse."""
    return [problem for kind in (XdsType.ENDPOINTS, XdsType.CLUSTERS, XdsType.LISTENERS)
            for _, facts in cache.of(kind, snapshot.of(kind)) for problem in facts.problems]


def check(snapshot: Snapshot, cache: FactsCache = FACTS) -> list[str]:
    """Every problem that would leave an Envoy warming or rejecting; empty when consistent."""
    clusters = cache.of(XdsType.CLUSTERS, snapshot.of(XdsType.CLUSTERS))
    listeners = cache.of(XdsType.LISTENERS, snapshot.of(XdsType.LISTENERS))
    endpoints = cache.of(XdsType.ENDPOINTS, snapshot.of(XdsType.ENDPOINTS))
    problems: list[str] = []
    rds_wanted: dict[str, str] = {}
    seen_addresses: dict[tuple[str, int], str] = {}
    for name, facts in listeners:
        where = facts.bind or ("", 0)
        if where in seen_addresses:
            problems.append(f"listeners {seen_addresses[where]} and {name} both bind {where[0]}:{where[1]}")
        seen_addresses.setdefault(where, name)
        for route in facts.routes:
            rds_wanted.setdefault(route, name)
    secrets_wanted: dict[str, str] = {}
    for _, facts in (*clusters, *listeners):
        for ref in facts.secrets:
            secrets_wanted.setdefault(ref.name, ref.where)
    problems += _dangling(snapshot, {f.eds for _, f in clusters if f.eds is not None}, rds_wanted, secrets_wanted)
    return problems + [problem for _, facts in (*endpoints, *clusters, *listeners) for problem in facts.problems]


def _dangling(snapshot: Snapshot, eds_wanted: set[str], rds_wanted: Mapping[str, str],
              secrets_wanted: Mapping[str, str]) -> list[str]:
    """Names referenced but not sent, and sent but not referenced."""
    endpoints = set(snapshot.of(XdsType.ENDPOINTS))
    routes = set(snapshot.of(XdsType.ROUTES))
    secrets = set(snapshot.of(XdsType.SECRETS))
    problems = [f"EDS {n!r} is referenced by a cluster but missing" for n in sorted(eds_wanted - endpoints)]
    eds_wanted.add(LOCAL_CLUSTER)  # the bootstrap's local cluster reads it (policy zoneAware), not a CDS one
    problems += [f"EDS {n!r} is sent but no EDS cluster uses it" for n in sorted(endpoints - eds_wanted)]
    problems += [f"RDS {n!r} is referenced by listener {rds_wanted[n]} but missing"
                 for n in sorted(rds_wanted.keys() - routes)]
    problems += [f"RDS {n!r} is sent but no listener uses it" for n in sorted(routes - rds_wanted.keys())]
    problems += [f"secret {n!r} is referenced by {secrets_wanted[n]} but missing"
                 for n in sorted(secrets_wanted.keys() - secrets)]
    problems += [f"secret {n!r} is sent but nothing references it" for n in sorted(secrets - secrets_wanted.keys())]
    return problems
