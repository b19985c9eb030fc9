"""Assignments written as bytes (`translate.eds_wire`) are exactly what protobuf writes for the same messages.

The reference builds each assignment field by field through the protobuf runtime: one locality per
zone (in order), an endpoint's port always set (a oneof member, written even when 0), a health check
port where given.  600 seeded random assignments cover short and long addresses (one- and two-byte
lengths), ports of one to three varint bytes, both health states and zone runs.
"""

from __future__ import annotations

import random

import pytest
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from meshplane.translate import eds_wire
from meshplane.translate.eds_wire import Instance

ADDRESS_LENGTHS = (0, 1, 8, 39, 112, 113, 114, 127, 128, 300)


def _reference(cluster: str, instances: list[Instance]) -> bytes:
    out = ClusterLoadAssignment(cluster_name=cluster)
    zone = None
    locality = None
    for where, address, port, healthy, hc_port in instances:
        if locality is None or where != zone:
            zone, locality = where, out.endpoints.add()
            if where:
                locality.locality.zone = where
        lb = locality.lb_endpoints.add(health_status=1 if healthy else 2)
        sock = lb.endpoint.address.socket_address
        sock.address, sock.port_value = address, port
        if hc_port is not None:
            lb.endpoint.health_check_config.port_value = hc_port
    serialised: bytes = out.SerializeToString(deterministic=True)
    return serialised


def _instances(rng: random.Random) -> list[Instance]:
    out: list[Instance] = []
    for zone in sorted(rng.sample(["", "a", "zone-" + "z" * 150], rng.randint(0, 3))):
        for _ in range(rng.randint(1, 4)):
            address = "".join(rng.choice("0123456789abcdef:.") for _ in range(rng.choice(ADDRESS_LENGTHS)))
            port = rng.choice((0, 1, 127, 128, 8080, 16384, 65535))
            out.append((zone, address, port, rng.random() < 0.5, rng.choice((None, None, 0, 9090))))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_written_assignments_are_protobufs_own(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        cluster = rng.choice(("", "cds_egress_m_a_http_8080", "c" * 200))
        instances = _instances(rng)
        assert eds_wire.assignment(cluster, instances) == _reference(cluster, instances), (cluster, instances)


@pytest.mark.parametrize("seed", range(3))
def test_instances_on_the_listener_port_are_written_as_the_general_form_writes_them(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        cluster = rng.choice(("", "cds_egress_m_a_http_8080"))
        port = rng.choice((1, 127, 128, 8080, 65535))
        zoned = [(zone or rng.choice(("", None)), address, healthy) for zone, address, _, healthy, _ in
                 _instances(rng)]  # fmt: skip
        general: list[Instance] = [(zone or "", address, port, healthy, None) for zone, address, healthy in zoned]
        assert eds_wire.on_port(cluster, port, zoned) == _reference(cluster, general), (cluster, zoned)
