"""Without iptables, `egress_port_listeners` lets an app reach a TCP backend through its sidecar."""

from __future__ import annotations

from pathlib import Path

from meshplane.model.ids import Kind, ProxyId
from meshplane.translate import translate
from meshplane.translate.static import inline_bootstrap
from support import Lab, MeshBuilder, listener, tcp_exchange


def _mesh(lab: Lab):
    mesh = MeshBuilder("portlisteners")
    backend = lab.place(mesh, "echo")
    mesh.node("echo", listener(9400, "tcp")).service("echo.local", node="echo")
    mesh.node("caller", listener(9401), backends=("echo.local",))
    return mesh.build(), backend


def test_each_per_port_egress_chain_gets_a_listener_but_never_on_the_apps_own_port(tmp_path: Path) -> None:
    with Lab.open(tmp_path) as lab:
        state, _ = _mesh(lab)
    snapshot = translate(state, ProxyId("portlisteners", Kind.VIRTUAL_NODE, "caller"))
    boot = inline_bootstrap(snapshot, bind_address="127.77.1.1", egress_port_listeners=True)
    extra = {li.name: li.address.socket_address.port_value for li in boot.static_resources.listeners}
    assert extra["lds_egress_127.77.1.1_9400"] == 9400
    assert "lds_egress_127.77.1.1_9401" not in extra
    assert "lds_egress_127.77.1.1_9400" not in {li.name for li in inline_bootstrap(snapshot).static_resources.listeners}


def test_tcp_route_carries_a_line_through_both_sidecars(tmp_path: Path) -> None:
    with Lab.open(tmp_path) as lab:
        state, backend = _mesh(lab)
        lab.tcp_app("echo", backend, 9400)
        lab.sidecar(state, "echo", backend)
        caller_ip = lab.address()
        proxy = ProxyId("portlisteners", Kind.VIRTUAL_NODE, "caller")
        boot = inline_bootstrap(
            translate(state, proxy), bind_address=caller_ip, admin_address=caller_ip, egress_port_listeners=True
        )
        lab.runner.start(boot, name="caller")
        reply = tcp_exchange((caller_ip, 9400), b"hello")
    assert b"echo" in reply and b"hello" in reply
