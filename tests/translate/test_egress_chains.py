"""The egress listener: a chain per declared port, the direct chain on its own port, the rest by egressFilter."""

from __future__ import annotations

from pathlib import Path

import pytest
from meshplane.snapshot.consistency import check
from meshplane.snapshot.types import XdsType
from meshplane.translate.static import inline_bootstrap
from support import MeshBuilder, listener, target, validate

from . import protos

EGRESS = "lds_egress_0.0.0.0_15001"


def _caller_of(router_protocol: str, egress: str) -> MeshBuilder:
    """A caller whose only backend is a router listening on the egress listener's own port."""
    mesh = MeshBuilder(f"own-port-{router_protocol}", egress=egress)
    mesh.node("caller", backends=("svc.local",))
    mesh.node("back", listener(8080, router_protocol))
    mesh.router("r", (15001, router_protocol))
    kind = "tcpRoute" if router_protocol == "tcp" else "httpRoute"
    match = {} if router_protocol == "tcp" else {"match": {"prefix": "/"}}
    mesh.route("r", "all", {kind: {"action": {"weightedTargets": [target("back")]}, **match}})
    mesh.service("svc.local", router="r")
    return mesh


@pytest.mark.parametrize("egress", ["DROP_ALL", "ALLOW_ALL"])
@pytest.mark.parametrize("protocol", ["http", "tcp"])
def test_a_backend_on_the_listeners_own_port_holds_it_alone(protocol: str, egress: str, tmp_path: Path) -> None:
    snapshot = protos.node(_caller_of(protocol, egress).build(), "caller")
    chains = protos.listener(snapshot, EGRESS).filter_chains
    own = [c for c in chains if c.filter_chain_match.destination_port.value == 15001]
    assert [c.name for c in own] == (["rds_egress_http_15001"] if protocol == "http" else ["tcp_15001"])
    # An HTTP backend there shares the direct config's name; a TCP one leaves that config unused, so it is not sent.
    assert ("rds_egress_http_15001" in snapshot.of(XdsType.ROUTES)) == (protocol == "http")
    assert check(snapshot) == []
    validate(inline_bootstrap(snapshot), tmp_path)
