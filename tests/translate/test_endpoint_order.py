"""An assignment lists its endpoints in one order, however their zones and ports are given.

`endpoints._sorted` reads each endpoint's fields as they are (None where unset) and falls back to the
full key (`_order`: no zone as "", no port as 0) where a None meets a value; both must give the
order the full key gives, and the written assignment must be the one protobuf writes for it.
"""

from __future__ import annotations

import itertools
import random

import pytest
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from meshplane.graph.view import Upstream
from meshplane.model.state import Endpoint
from meshplane.translate import endpoints

UPSTREAM = Upstream(cluster="cds_egress_m_b_http_8080", node="b", port=8080, protocol="http", discovery=None,
                    ip_preference=None, health_check=None, outlier_detection=None, tls=None)


def _endpoints(rng: random.Random) -> tuple[Endpoint, ...]:
    return tuple(
        Endpoint(instance_id=f"i-{rng.randint(0, 3)}", address=f"10.0.0.{rng.randint(1, 3)}",
                 port=rng.choice((None, None, 9000, 9001)), zone=rng.choice((None, "", "a", "b")),
                 healthy=rng.random() < 0.8)
        for _ in range(rng.randint(0, 7))
    )


def _reference(found: tuple[Endpoint, ...]) -> bytes:
    out = ClusterLoadAssignment(cluster_name=UPSTREAM.cluster)
    for zone, members in itertools.groupby(sorted(found, key=endpoints._order), key=lambda e: e.zone or ""):
        locality = out.endpoints.add()
        if zone:
            locality.locality.zone = zone
        for ep in members:
            lb = locality.lb_endpoints.add(health_status=1 if ep.healthy else 2)
            sock = lb.endpoint.address.socket_address
            sock.address, sock.port_value = ep.address, ep.port or UPSTREAM.port
    written: bytes = out.SerializeToString(deterministic=True)
    return written


@pytest.mark.parametrize("seed", range(3))
def test_endpoints_are_ordered_and_written_by_the_full_key_whatever_fields_are_unset(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        found = _endpoints(rng)
        assert endpoints._sorted(found) == sorted(found, key=endpoints._order), found
        assert endpoints.assignment_bytes(UPSTREAM, found) == _reference(found), found
