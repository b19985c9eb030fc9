"""The publish-time consistency check refuses every address and port Envoy would refuse, and nothing Envoy takes.

Real Envoy is the judge where it has one: each snapshot the check passes, Envoy loads, and each
malformed address the check refuses, Envoy refuses too.  The check is stricter on purpose for
addresses Envoy loads but no endpoint can have (unspecified, multicast, scoped).
"""

from __future__ import annotations

import pytest
from meshplane.model.ids import Kind, ProxyId
from meshplane.snapshot.consistency import check
from meshplane.snapshot.snapshot import Snapshot
from meshplane.translate import translate
from meshplane.translate.envoy_check import EnvoyRejected, validate
from meshplane.translate.static import inline_bootstrap
from support import MeshBuilder, listener

FRONT = ProxyId("m", Kind.VIRTUAL_NODE, "front")


def front(address: str, port: int | None = 8080) -> Snapshot:
    state = (
        MeshBuilder("m")
        .node("front", listener(9000), backends=("back.local",))
        .node("back", listener(8080))
        .service("back.local", node="back")
        .endpoint("back", address, port)
        .build()
    )
    return translate(state, FRONT)


def dns_front(hostname: str) -> Snapshot:
    state = (
        MeshBuilder("m")
        .node("front", listener(9000), backends=("back.local",))
        .node("back", listener(8080), serviceDiscovery={"dns": {"hostname": hostname}})
        .service("back.local", node="back")
        .build()
    )
    return translate(state, FRONT)


@pytest.mark.parametrize("address", ["10.0.0.9", "fd00::9", "127.0.0.2"])
def test_endpoint_addresses_envoy_takes_pass(address: str) -> None:
    snapshot = front(address)
    assert check(snapshot) == []
    validate(inline_bootstrap(snapshot))


@pytest.mark.parametrize("address, envoy_refuses", [
    ("not-an-ip", True), ("999.999.999.999", True), ("7" * 10_000, True), ("back.svc.local", True),
    ("0.0.0.0", False), ("224.0.0.1", False), ("fe80::1%eth0", False),  # Envoy loads these; nothing is there
])
def test_an_endpoint_address_that_is_not_a_unicast_ip_is_a_problem(address: str, envoy_refuses: bool) -> None:
    snapshot = front(address)
    problems = check(snapshot)
    assert len(problems) == 1 and problems[0].startswith("EDS 'cds_egress_m_back_http_8080': endpoint")
    assert len(problems[0]) < 300, "a 10 kB address is not copied into the problem"
    if envoy_refuses:
        with pytest.raises(EnvoyRejected):
            validate(inline_bootstrap(snapshot))


def test_a_dns_cluster_takes_a_host_name_and_refuses_garbage() -> None:
    assert check(dns_front("back.svc.cluster.local")) == []
    (problem,) = check(dns_front("back..local"))
    assert "cluster 'cds_egress_m_back_http_8080'" in problem and "not a host name" in problem
