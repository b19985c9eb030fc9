"""Sidecars whose ingress listeners read the same inputs share one message; the others get their own.

An HTTP ingress chain names the listener's route config, not the proxy's cluster, so sidecars with
the same listener ports, protocols, TLS, timeouts and access log get one Listener built once per
state.  Each sidecar's ingress listener, taken from a state whose cache is warm, must be byte for
byte the one built for it alone (no cache): a key that missed an input would hand a sidecar another's.
"""

from __future__ import annotations

import dataclasses

from meshplane.graph import proxies, resolve
from meshplane.graph.names import ingress_listener
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import MeshState
from meshplane.snapshot.types import XdsType
from meshplane.translate import listeners, translate
from support import MeshBuilder, listener

MESH = "ingress"
CERT = {"file": {"certificateChain": "/chain.pem", "privateKey": "/key.pem"}}
IDLE = {"http": {"idle": {"unit": "s", "value": 30}}}


def _state() -> MeshState:
    mesh = MeshBuilder(MESH)
    for name in ("a-plain", "b-plain"):
        mesh.node(name, listener(8080))
    mesh.node("c-tls", listener(8080, tls={"mode": "PERMISSIVE", "certificate": CERT}))
    mesh.node("d-idle", listener(8080, timeout=IDLE))
    mesh.node("e-logged", listener(8080), logging={"accessLog": {"file": {"path": "/dev/stdout"}}})
    mesh.node("f-other-port", listener(8081))
    for name in ("g-tcp", "h-tcp"):  # a TCP chain names the proxy's own cluster
        mesh.node(name, listener(9000, "tcp"))
    mesh.node("i-two", listener(8080), listener(8082, "http2"))
    return mesh.build()


def _ingress(state: MeshState, name: str) -> object:
    return translate(state, ProxyId(MESH, Kind.VIRTUAL_NODE, name)).of(XdsType.LISTENERS)[ingress_listener()]


def test_each_sidecar_gets_its_own_ingress_listener_and_equal_ones_share_it() -> None:
    state = _state()
    for proxy in proxies(state):
        shared = translate(state, proxy).packed(XdsType.LISTENERS)[ingress_listener()]
        alone = translate(dataclasses.replace(state), proxy).packed(XdsType.LISTENERS)[ingress_listener()]
        own = listeners.listeners(resolve(state, proxy)[0])[ingress_listener()]
        assert shared == alone, proxy
        assert translate(state, proxy).of(XdsType.LISTENERS)[ingress_listener()] == own, proxy
    assert _ingress(state, "a-plain") is _ingress(state, "b-plain")
    assert _ingress(state, "g-tcp") != _ingress(state, "h-tcp")
