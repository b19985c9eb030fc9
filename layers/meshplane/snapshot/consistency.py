"""go-control-plane style snapshot checks: no dangling EDS/RDS/SDS names, no clashing listeners,
no address or port that Envoy would refuse.

Envoy silently waits forever for a resource a snapshot references but never sends
(clusters stuck warming), and rejects a whole update over one malformed endpoint
address, so the pipeline refuses to publish a snapshot with problems.  The address
checks (`model.addresses`) run on every publish, endpoint-only ones included:
they are the last line behind the checks where events enter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2

from meshplane.model.addresses import MAX_PORT, InvalidAddress, hostname, ip_address, port, shown
from meshplane.model.policy.zone_aware import LOCAL_CLUSTER
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.transform import ads_secret_refs, route_names
from meshplane.snapshot.types import XdsType

_DNS_TYPES = frozenset({cluster_pb2.Cluster.STRICT_DNS, cluster_pb2.Cluster.LOGICAL_DNS})


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


def address_problems(snapshot: Snapshot) -> list[str]:
    """Every endpoint, DNS host and listener address of the snapshot that Envoy would refuse."""
    problems: list[str] = []
    for name, assignment in sorted(snapshot.of(XdsType.ENDPOINTS).items()):
        assert isinstance(assignment, endpoint_pb2.ClusterLoadAssignment)
        problems += _assignment_problems(f"EDS {name!r}", assignment, ip_address)
    for name, cluster in sorted(snapshot.of(XdsType.CLUSTERS).items()):
        assert isinstance(cluster, cluster_pb2.Cluster)
        if cluster.HasField("load_assignment"):
            host = hostname if cluster.type in _DNS_TYPES else ip_address
            problems += _assignment_problems(f"cluster {name!r}", cluster.load_assignment, host)
    for name, listener in sorted(snapshot.of(XdsType.LISTENERS).items()):
        assert isinstance(listener, listener_pb2.Listener)
        problem = _socket_problem(listener.address, _listen_address)
        if problem is not None:
            problems.append(f"listener {name!r}: {problem}")
    return problems


def _listen_address(value: object) -> str:
    """A listener may bind the unspecified address (every interface), unlike an endpoint."""
    return str(value) if value in ("0.0.0.0", "::") else ip_address(value)


def check(snapshot: Snapshot) -> list[str]:
    """Every problem that would leave an Envoy warming or rejecting; empty when consistent."""
    problems: list[str] = []
    clusters = snapshot.of(XdsType.CLUSTERS)
    endpoints = snapshot.of(XdsType.ENDPOINTS)
    routes = snapshot.of(XdsType.ROUTES)
    secrets = set(snapshot.of(XdsType.SECRETS))
    eds_wanted: set[str] = set()
    secrets_wanted: dict[str, str] = {}
    for name, cluster in sorted(clusters.items()):
        assert isinstance(cluster, cluster_pb2.Cluster)
        if cluster.type == cluster_pb2.Cluster.EDS:
            eds_wanted.add(cluster.eds_cluster_config.service_name or name)
    rds_wanted: dict[str, str] = {}
    seen_addresses: dict[tuple[str, int], str] = {}
    for name, listener in sorted(snapshot.of(XdsType.LISTENERS).items()):
        assert isinstance(listener, listener_pb2.Listener)
        sock = listener.address.socket_address
        where = (sock.address, sock.port_value)
        if where in seen_addresses:
            problems.append(f"listeners {seen_addresses[where]} and {name} both bind {where[0]}:{where[1]}")
        seen_addresses.setdefault(where, name)
        for route in route_names(listener):
            rds_wanted.setdefault(route, name)
    for ref in ads_secret_refs(snapshot):
        secrets_wanted.setdefault(ref.name, ref.where)
    problems += [f"EDS {n!r} is referenced by a cluster but missing" for n in sorted(eds_wanted - set(endpoints))]
    eds_wanted.add(LOCAL_CLUSTER)  # the bootstrap's local cluster reads it (policy zoneAware), not a CDS one
    problems += [f"EDS {n!r} is sent but no EDS cluster uses it" for n in sorted(set(endpoints) - eds_wanted)]
    problems += [
        f"RDS {n!r} is referenced by listener {rds_wanted[n]} but missing"
        for n in sorted(rds_wanted.keys() - routes.keys())
    ]
    problems += [f"RDS {n!r} is sent but no listener uses it" for n in sorted(routes.keys() - rds_wanted.keys())]
    problems += [
        f"secret {n!r} is referenced by {secrets_wanted[n]} but missing"
        for n in sorted(secrets_wanted.keys() - secrets)
    ]
    problems += [f"secret {n!r} is sent but nothing references it" for n in sorted(secrets - secrets_wanted.keys())]
    return problems + address_problems(snapshot)
