"""go-control-plane style snapshot checks: no dangling EDS/RDS/SDS names, no clashing listeners.

Envoy silently waits forever for a resource a snapshot references but never sends
(clusters stuck warming), so the pipeline refuses to publish a snapshot with problems.
"""

from __future__ import annotations

from collections.abc import Iterator

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm

from meshplane.snapshot.secret_refs import ads_secret_refs, chains
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType


def _route_names(listener: listener_pb2.Listener) -> Iterator[str]:
    for chain in chains(listener):
        for network in chain.filters:
            if network.typed_config.Is(hcm.HttpConnectionManager.DESCRIPTOR):
                manager = hcm.HttpConnectionManager()
                network.typed_config.Unpack(manager)
                if manager.HasField("rds"):
                    yield manager.rds.route_config_name


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
        for route in _route_names(listener):
            rds_wanted.setdefault(route, name)
    for ref in ads_secret_refs(snapshot):
        secrets_wanted.setdefault(ref.name, ref.where)
    problems += [f"EDS {n!r} is referenced by a cluster but missing" for n in sorted(eds_wanted - set(endpoints))]
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
    return problems
