"""The `authorization` policy section, proven by requests through real Envoy ingress listeners.

`guarded` (HTTP) and `vault` (TCP) listen PERMISSIVE with client validation, so a TLS caller
must present a certificate from the test CA and a plaintext caller still reaches the chain,
where only authorization can refuse it.  Callers are test clients holding certificates with
the names under test; every check is one request with one deterministic answer (no sampling).

`guarded`'s rules:
- DENY `/admin/shutdown` to everyone, and every call from URI SANs under `spiffe://trust/ns/banned`;
- ALLOW the `frontend` virtual node (its SPIFFE ID under meshplane's convention) GET on `/api`;
- ALLOW the DNS SAN `admin.authz.local` everything;
- ALLOW URI SANs under `spiffe://trust/ns/` GET on exactly `/public`.
`vault` allows the `frontend` virtual node, and `admin.authz.local` only with a `to` (read
fail-closed on TCP, so it allows nothing there).  The gateway `edge` (PERMISSIVE, client validation)
allows `client.authz.local` but not on `/admin`; its own loop-back hop to the target must still pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import pytest
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy.spec import PolicyData
from meshplane.snapshot.types import XdsType
from meshplane.translate import translate
from support import Lab, Leaf, MeshBuilder, Sidecar, TestCA, http_request, listener, tls_context
from support.mesh import validate_sidecar

pytestmark = pytest.mark.envoy

MESH = "authz-mesh"
HOST = "guarded.authz.local"
FRONTEND_ID = f"spiffe://meshplane/mesh/{MESH}/virtualNode/frontend"
ADMIN_DNS = "admin.authz.local"
CLIENT_DNS = "client.authz.local"
EDGE_PORT = 8443
SHOP = "shop.authz.local"


@dataclass
class World:
    ca: TestCA
    guarded: Sidecar
    vault: Sidecar
    edge: Sidecar
    state: Any


def _policy(name: str, target: dict[str, Any], authorization: dict[str, Any]) -> PolicyData:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return PolicyData.model_validate({
        "meshName": MESH, "policyName": name,
        "spec": {"targets": [target], "authorization": authorization},
        "metadata": {"arn": f"arn:aws:meshplane:us-west-2:111122223333:mesh/{MESH}/policy/{name}", "uid": name,
                     "version": 1, "createdAt": now, "lastUpdatedAt": now, "meshOwner": "111122223333",
                     "resourceOwner": "111122223333"},
    })


GUARDED_RULES = {"rules": [
    {"name": "no-shutdown", "action": "DENY", "to": {"paths": [{"exact": "/admin/shutdown"}]}},
    {"name": "no-banned", "action": "DENY",
     "from": [{"subjectAlternativeName": {"prefix": "spiffe://trust/ns/banned", "type": "URI"}}]},
    {"name": "frontend-reads", "action": "ALLOW", "from": [{"virtualNode": "frontend"}],
     "to": {"paths": [{"prefix": "/api"}], "methods": ["GET"]}},
    {"name": "admin", "action": "ALLOW", "from": [{"subjectAlternativeName": {"exact": ADMIN_DNS, "type": "DNS"}}]},
    {"name": "trust-public", "action": "ALLOW",
     "from": [{"subjectAlternativeName": {"prefix": "spiffe://trust/ns/"}}],
     "to": {"paths": [{"exact": "/public"}], "methods": ["GET"]}},
]}
EDGE_RULES = {"rules": [
    {"action": "DENY", "to": {"paths": [{"prefix": "/admin"}]}},
    {"action": "ALLOW", "from": [{"subjectAlternativeName": {"exact": CLIENT_DNS, "type": "DNS"}}]},
]}
VAULT_RULES = {"rules": [
    {"action": "ALLOW", "from": [{"virtualNode": "frontend"}]},
    {"action": "ALLOW", "from": [{"subjectAlternativeName": {"exact": ADMIN_DNS}}], "to": {"methods": ["GET"]}},
]}


def _file_cert(leaf: Leaf) -> dict[str, dict[str, str]]:
    return {"file": {"certificateChain": str(leaf.chain), "privateKey": str(leaf.key)}}


@pytest.fixture(scope="module")
def world(lab: Lab, test_ca: TestCA) -> World:
    trust = {"trust": {"file": {"certificateChain": str(test_ca.cert_path)}}}
    mesh = MeshBuilder(MESH)
    for name, protocol in (("guarded", "http"), ("vault", "tcp")):
        tls = {"mode": "PERMISSIVE", "certificate": _file_cert(test_ca.issue(name, dns=(f"{name}.authz.local",))),
               "validation": trust}
        mesh.node(name, listener(8080, protocol, tls=tls))
    guarded_ip, vault_ip = lab.place(mesh, "guarded"), lab.place(mesh, "vault")
    lab.http_app("guarded", guarded_ip, 8080)
    lab.tcp_app("vault", vault_ip, 8080)
    edge_tls = {"mode": "PERMISSIVE", "certificate": _file_cert(test_ca.issue("edge", dns=("edge.authz.local",))),
                "validation": trust}
    mesh.gateway("edge", {"listeners": [listener(EDGE_PORT, tls=edge_tls)]})
    action = {"target": {"virtualService": {"virtualServiceName": SHOP}},
              "rewrite": {"prefix": {"defaultPrefix": "DISABLED"}}}
    mesh.gateway_route("edge", "all", {"httpRoute": {"match": {"prefix": "/"}, "action": action}})
    mesh.node("shop", listener(8080))
    mesh.service(SHOP, node="shop")
    lab.direct_http_app(mesh, "shop", "shop")
    policies = [_policy("guarded-authz", _node("guarded"), GUARDED_RULES),
                _policy("vault-authz", _node("vault"), VAULT_RULES),
                _policy("edge-authz", {"virtualGateway": {"virtualGatewayName": "edge"}}, EDGE_RULES)]
    state = dataclasses.replace(mesh.build(), policies={p.policy_name: p for p in policies})
    return World(test_ca, lab.sidecar(state, "guarded", guarded_ip), lab.sidecar(state, "vault", vault_ip),
                 lab.sidecar(state, "edge", lab.address(), gateway=True), state)


def _node(name: str) -> dict[str, Any]:
    return {"virtualNode": {"virtualNodeName": name}}


def _call(world: World, leaf: Leaf | None, path: str, method: str = "GET") -> int:
    """The status a caller holding `leaf` (None: plaintext) gets; 0 when the connection is refused."""
    context = tls_context(world.ca.cert_path, leaf.chain, leaf.key) if leaf is not None else None
    reply = http_request(world.guarded.ingress, HOST, path, method=method, tls=context, server_hostname=HOST)
    assert reply.status != 200 or reply.upstream == "guarded", reply
    return reply.status


def _caller(world: World, name: str, *, dns: tuple[str, ...] = (), uris: tuple[str, ...] = ()) -> Leaf:
    return world.ca.issue(name, dns=dns, uris=uris)


def test_generated_rbac_config_passes_envoy_validate(world: World, tmp_path: Any) -> None:
    # on the TLS and the plaintext chain each: guarded a DENY then an ALLOW filter, vault (no DENY rule) an ALLOW one
    for node, rbac, count in (("guarded", "envoy.filters.http.rbac", 4), ("vault", "envoy.filters.network.rbac", 2)):
        proxy = ProxyId(MESH, Kind.VIRTUAL_NODE, node)
        listener_config = "".join(str(m) for m in translate(world.state, proxy).of(XdsType.LISTENERS).values())
        assert listener_config.count(rbac) == count, node
        validate_sidecar(world.state, proxy, tmp_path)


def test_the_allowed_virtual_node_may_call_its_paths_and_methods_only(world: World) -> None:
    frontend = _caller(world, "frontend", uris=(FRONTEND_ID,))
    assert _call(world, frontend, "/api/items") == 200
    assert _call(world, frontend, "/api/items", "POST") == 403  # method rule
    assert _call(world, frontend, "/other") == 403  # path rule


def test_a_node_identity_carried_as_a_dns_name_is_not_the_node(world: World) -> None:
    assert _call(world, _caller(world, "dns-frontend", dns=(FRONTEND_ID,)), "/api/items") == 403


def test_a_dns_san_rule_allows_every_call_but_what_a_deny_rule_refuses(world: World) -> None:
    admin = _caller(world, "admin", dns=(ADMIN_DNS,))
    assert _call(world, admin, "/other") == 200
    assert _call(world, admin, "/api/items", "DELETE") == 200
    assert _call(world, admin, "/admin/shutdown") == 403


def test_a_deny_rule_on_callers_wins_over_an_allow_rule(world: World) -> None:
    assert _call(world, _caller(world, "ok", uris=("spiffe://trust/ns/ok",)), "/public") == 200
    assert _call(world, _caller(world, "banned", uris=("spiffe://trust/ns/banned-7",)), "/public") == 403


def test_exact_path_and_unknown_callers(world: World) -> None:
    ok = _caller(world, "ok", uris=("spiffe://trust/ns/ok",))
    assert _call(world, ok, "/public/more") == 403  # exact, not prefix
    assert _call(world, _caller(world, "stranger", dns=("stranger.authz.local",)), "/api/items") == 403


def test_a_plaintext_caller_has_no_identity(world: World) -> None:
    assert _call(world, None, "/api/items") == 403
    assert _call(world, None, "/public") == 403


def _tcp(world: World, leaf: Leaf | None) -> bytes:
    """One line through `vault`'s TCP listener; b"" when Envoy closes the connection."""
    with socket.create_connection(world.vault.ingress, timeout=5) as raw:
        sock: socket.socket = raw
        if leaf is not None:
            context = tls_context(world.ca.cert_path, leaf.chain, leaf.key)
            sock = context.wrap_socket(raw, server_hostname="vault.authz.local")
        try:
            sock.sendall(b"ping\n")
            received = b""
            while not received.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
            return received
        except (ssl.SSLError, ConnectionError):
            return b""


def test_tcp_listener_admits_the_allowed_node_and_closes_on_others(world: World) -> None:
    assert _tcp(world, _caller(world, "frontend", uris=(FRONTEND_ID,))) == b"vault ping\n"
    assert _tcp(world, _caller(world, "stranger", dns=("stranger.authz.local",))) == b""
    assert _tcp(world, None) == b""


def test_tcp_rules_with_an_operation_allow_nothing(world: World) -> None:
    assert _tcp(world, _caller(world, "admin", dns=(ADMIN_DNS,))) == b""


def _through_edge(world: World, leaf: Leaf | None, path: str) -> tuple[int, str | None]:
    context = tls_context(world.ca.cert_path, leaf.chain, leaf.key) if leaf is not None else None
    reply = http_request(world.edge.port(EDGE_PORT), "www.authz.example", path, tls=context,
                         server_hostname="edge.authz.local")
    return reply.status, reply.upstream


def test_a_gateway_authorizes_the_clients_hop_and_not_its_own_loop_back_hop(world: World) -> None:
    client = _caller(world, "client", dns=(CLIENT_DNS,))
    assert _through_edge(world, client, "/items") == (200, "shop")
    assert _through_edge(world, client, "/admin/users") == (403, None)
    assert _through_edge(world, None, "/items") == (403, None)
    assert _through_edge(world, _caller(world, "stranger", dns=("stranger.authz.local",)), "/items") == (403, None)


def _over(tls: ssl.SSLSocket) -> int:
    """The status of one GET on an established TLS connection to `guarded`."""
    tls.sendall(f"GET /api/items HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
    response = http.client.HTTPResponse(tls)  # type: ignore[arg-type]
    response.begin()
    response.read()
    return response.status


def test_a_resumed_tls_session_is_judged_like_a_full_handshake(world: World) -> None:
    """Envoy does not mark a resumed session's certificate as validated, so a policy must not see one:
    the second connection offers the first one's session and is still allowed."""
    frontend = _caller(world, "frontend", uris=(FRONTEND_ID,))
    context = tls_context(world.ca.cert_path, frontend.chain, frontend.key)
    statuses, session = [], None
    for _ in range(2):
        with socket.create_connection(world.guarded.ingress, timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=HOST, session=session) as tls:
            statuses.append(_over(tls))
            session = tls.session
    assert statuses == [200, 200]
