"""The `jwt` policy, proven with real tokens through real Envoys: a node's sidecar and a gateway.

Tokens are signed with PyJWT.  The node's policy has an inline JWKS provider (RS256) and a
remote one (ES256) whose key set a local HTTPS server on `localhost` serves under a test CA, so
the remote path runs DNS, SNI, certificate and name checks as it would against a real issuer.
Every request is decided by a signature, a claim or a rule, not by timing: one request per case.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from meshplane.graph import resolve
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy.spec import PolicyData
from meshplane.snapshot.snapshot import XdsType
from meshplane.translate import translate
from meshplane.translate.routes import TARGET_HEADER
from support import Lab, MeshBuilder, Reply, Sidecar, http_request, listener, tls_context, validate_sidecar
from support.pki import Leaf, TestCA

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("policy-jwt")]  # one Lab for the module

MESH = "jwt-mesh"
ISSUER = "https://issuer.jwt.local"
REMOTE_ISSUER = "https://remote-issuer.jwt.local"
AUDIENCE = "shop-api"
WEB = "web.jwt.local"
GATEWAY_PORT = 8088
ACCOUNT = "123456789012"
KID = "key-1"
REMOTE_KID = "remote-key-1"


@dataclasses.dataclass(frozen=True)
class Keys:
    signing: rsa.RSAPrivateKey
    forger: rsa.RSAPrivateKey  # same kid, not in the JWKS: a bad signature
    remote: ec.EllipticCurvePrivateKey

    def jwks(self) -> str:
        return json.dumps({"keys": [_jwk(RSAAlgorithm.to_jwk(self.signing.public_key(), as_dict=True), KID, "RS256")]})

    def remote_jwks(self) -> bytes:
        key = _jwk(ECAlgorithm.to_jwk(self.remote.public_key(), as_dict=True), REMOTE_KID, "ES256")
        return json.dumps({"keys": [key]}).encode()


def _jwk(key: dict[str, Any], kid: str, alg: str) -> dict[str, Any]:
    return {**key, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        signing=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        forger=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        remote=ec.generate_private_key(ec.SECP256R1()),
    )


def token(keys: Keys, *, issuer: str = ISSUER, audience: str = AUDIENCE, lifetime: int | None = 300,
          key: Any = None, kid: str = KID, subject: str = "alice") -> str:
    """A signed JWT; a negative `lifetime` gives one that expired that many seconds ago, None one without `exp`."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer, "aud": audience, "sub": subject, "iat": now - 10}
    if lifetime is not None:
        claims["exp"] = now + lifetime
    algorithm = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    return jwt.encode(claims, key if key is not None else keys.signing, algorithm=algorithm, headers={"kid": kid})


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


# -- a remote JWKS over HTTPS ---------------------------------------------------------------------------


class _JwksHandler(BaseHTTPRequestHandler):
    document = b""
    fetches: list[str] = []

    def do_GET(self) -> None:
        type(self).fetches.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.document)))
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *args: Any) -> None:
        """Quiet: the test reads `fetches` instead."""


@dataclasses.dataclass
class KeyServer:
    uri: str
    ca_file: str
    fetches: list[str]
    sni: list[str | None]


@pytest.fixture(scope="module")
def key_server(keys: Keys, test_ca: TestCA) -> Iterator[KeyServer]:
    """HTTPS on localhost (a DNS name, so Envoy resolves it and sends SNI), certificate from the test CA."""
    leaf = test_ca.issue("localhost", dns=["localhost"])
    handler = type("Handler", (_JwksHandler,), {"document": keys.remote_jwks(), "fetches": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf.chain, leaf.key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield KeyServer(f"https://localhost:{port}/jwks.json", str(test_ca.cert_path), handler.fetches, names)
    finally:
        server.shutdown()
        server.server_close()


# -- the mesh ---------------------------------------------------------------------------------------------


def _policy(name: str, target: dict[str, Any], section: dict[str, Any], **others: Any) -> PolicyData:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    metadata = {"arn": f"arn:aws:appmesh:us-west-2:{ACCOUNT}:mesh/{MESH}/policy/{name}", "uid": f"uid-{name}",
                "version": 1, "createdAt": now, "lastUpdatedAt": now, "meshOwner": ACCOUNT, "resourceOwner": ACCOUNT}
    spec = {"targets": [target], "jwt": section, **others}
    return PolicyData.model_validate({"meshName": MESH, "policyName": name, "spec": spec, "metadata": metadata})


def _local_provider(keys: Keys) -> dict[str, Any]:
    return {"name": "local", "issuer": ISSUER, "audiences": [AUDIENCE], "jwks": {"inline": keys.jwks()},
            "fromHeaders": [{"name": "authorization", "valuePrefix": "Bearer "}], "fromCookies": ["session"],
            "claimToHeaders": [{"claim": "sub", "header": "x-user"}], "forwardPayloadHeader": "x-jwt-payload"}


NODE_TARGET = {"virtualNode": {"virtualNodeName": "api"}}
# Authorization beside authentication on the node: nobody may call /admin, token or not.
ADMIN_DENIED = {"rules": [{"action": "DENY", "to": {"paths": [{"prefix": "/admin"}]}}]}


def _node_section(keys: Keys, server: KeyServer) -> dict[str, Any]:
    remote = {"uri": server.uri, "caCertificateFile": server.ca_file, "timeout": {"value": 5, "unit": "s"}}
    return {
        "providers": [
            _local_provider(keys),
            {"name": "remote", "issuer": REMOTE_ISSUER, "audiences": [AUDIENCE], "jwks": {"remote": remote},
             "claimToHeaders": [{"claim": "sub", "header": "x-remote-user"}], "fromParams": ["partner_token"],
             "fromHeaders": [{"name": "Authorization", "valuePrefix": "Bearer "}, {"name": "X-Partner-Token"}],
             "forward": True},
        ],
        "rules": [
            {"match": {"prefix": "/public"}, "allowMissing": True},
            {"match": {"exact": "/public/admin"}, "providers": ["local"]},
            {"match": {"prefix": "/optional"}, "providers": ["local"], "allowMissing": True},
        ],
    }


def _gateway_section(keys: Keys) -> dict[str, Any]:
    public = {"match": {"prefix": "/shop/catalog"}, "allowMissing": True}
    return {"providers": [_local_provider(keys)], "rules": [public]}


@dataclasses.dataclass(frozen=True)
class JwtLab:
    node: Sidecar
    gateway: Sidecar  # PERMISSIVE TLS: a TLS chain, a plaintext chain and the loop-back hop's
    strict: Sidecar  # STRICT TLS: the loop-back hop's plaintext chain is the only other one
    app: Any
    web: Any
    tls: ssl.SSLContext


HEALTH_PATH = "/healthz"


def _gateway_spec(mode: str, leaf: Leaf) -> dict[str, Any]:
    certificate = {"file": {"certificateChain": str(leaf.chain), "privateKey": str(leaf.key)}}
    port = {"port": GATEWAY_PORT, "protocol": "http"}
    check = {"protocol": "http", "path": HEALTH_PATH, "port": GATEWAY_PORT, "intervalMillis": 5000,
             "timeoutMillis": 2000, "healthyThreshold": 2, "unhealthyThreshold": 2}
    tls = {"mode": mode, "certificate": certificate}
    return {"listeners": [{"portMapping": port, "tls": tls, "healthCheck": check}]}


@pytest.fixture(scope="module")
def jwt_lab(lab: Lab, keys: Keys, key_server: KeyServer, test_ca: TestCA) -> JwtLab:
    mesh = MeshBuilder(MESH)
    mesh.node("api", listener(8080))
    mesh.node("web", listener(8080))
    mesh.service(WEB, node="web")
    leaf = test_ca.issue("edge", dns=["www.example.com"])
    action = {"target": {"virtualService": {"virtualServiceName": WEB}}}
    for gateway, mode in (("edge", "PERMISSIVE"), ("edge-strict", "STRICT")):
        mesh.gateway(gateway, _gateway_spec(mode, leaf))
        mesh.gateway_route(gateway, "shop", {"httpRoute": {"match": {"prefix": "/shop/"}, "action": action}})
    api_address = lab.place(mesh, "api")
    web = lab.direct_http_app(mesh, "web", "web")
    policies = [
        _policy("api-jwt", NODE_TARGET, _node_section(keys, key_server), authorization=ADMIN_DENIED),
        _policy("edge-jwt", {"virtualGateway": {"virtualGatewayName": "edge"}}, _gateway_section(keys)),
        _policy("strict-jwt", {"virtualGateway": {"virtualGatewayName": "edge-strict"}}, _gateway_section(keys)),
    ]
    state = dataclasses.replace(mesh.build(), policies={p.policy_name: p for p in policies})
    app = lab.http_app("api", api_address, 8080)
    node = lab.sidecar(state, "api", api_address)
    gateway = lab.sidecar(state, "edge", lab.address(), gateway=True)
    strict = lab.sidecar(state, "edge-strict", lab.address(), gateway=True)
    return JwtLab(node, gateway, strict, app, web, tls_context(test_ca.cert_path))


def _node(jwt_lab: JwtLab, path: str, headers: dict[str, str] | None = None) -> Reply:
    return http_request(jwt_lab.node.ingress, "api.jwt.local", path, headers=headers)


def _gateway(jwt_lab: JwtLab, path: str, headers: dict[str, str] | None = None, *, strict: bool = False,
             tls: bool = False) -> Reply:
    gateway = jwt_lab.strict if strict else jwt_lab.gateway
    context = jwt_lab.tls if tls or strict else None
    return http_request(gateway.port(GATEWAY_PORT), "www.example.com", path, headers=headers, tls=context)


# -- a node's ingress ------------------------------------------------------------------------------------


def test_a_token_signed_by_the_inline_jwks_passes_with_its_subject_as_a_header(jwt_lab: JwtLab, keys: Keys) -> None:
    reply = _node(jwt_lab, "/orders", bearer(token(keys)))
    assert reply.status == 200 and reply.upstream == "api", reply
    seen = reply.json["headers"]
    assert seen["x-user"] == "alice"
    payload = json.loads(base64.urlsafe_b64decode(seen["x-jwt-payload"] + "=" * (-len(seen["x-jwt-payload"]) % 4)))
    assert payload["sub"] == "alice" and payload["aud"] == AUDIENCE
    assert "authorization" not in seen  # not forwarded unless `forward` is set


def test_a_token_in_a_cookie_passes_and_a_cors_preflight_needs_none(jwt_lab: JwtLab, keys: Keys) -> None:
    """Browsers send the token as a cookie, and ask before a cross-origin call without one."""
    cookie = _node(jwt_lab, "/orders", {"cookie": f"theme=dark; session={token(keys, subject='frank')}"})
    assert cookie.status == 200 and cookie.json["headers"]["x-user"] == "frank", cookie
    preflight = {"origin": "https://shop.example.com", "access-control-request-method": "POST"}
    reply = http_request(jwt_lab.node.ingress, "api.jwt.local", "/orders", method="OPTIONS", headers=preflight)
    assert reply.status == 200 and reply.upstream == "api", reply
    assert _node(jwt_lab, "/orders", {"cookie": "session=not-a-token"}).status == 401


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("expired", {"lifetime": -3600}),
        ("wrong audience", {"audience": "another-api"}),
        ("wrong issuer", {"issuer": "https://evil.jwt.local"}),
        ("signed by a key not in the JWKS", {"key": "forger"}),
        ("without an expiry", {"lifetime": None}),
    ],
)
def test_an_invalid_token_gets_401_and_never_reaches_the_app(
    jwt_lab: JwtLab, keys: Keys, case: str, claims: dict[str, Any]
) -> None:
    if claims.get("key") == "forger":
        claims = {"key": keys.forger}
    jwt_lab.app.reset()
    reply = _node(jwt_lab, f"/orders/{case.replace(' ', '-')}", bearer(token(keys, **claims)))
    assert reply.status == 401, (case, reply)
    assert jwt_lab.app.hits() == 0


@pytest.mark.parametrize("path", ["/orders", "/public/admin", "/publicity"])
def test_a_request_without_a_token_gets_401_where_one_is_required(jwt_lab: JwtLab, path: str) -> None:
    """`/public/admin` is under the public prefix, but its exact rule wins wherever it is written;
    `/publicity` starts with the public prefix's text but is not under it."""
    reply = _node(jwt_lab, path)
    assert reply.status == 401, reply
    assert reply.upstream is None


def test_a_public_path_needs_no_token_and_a_forged_claim_header_is_dropped(jwt_lab: JwtLab) -> None:
    assert _node(jwt_lab, "/public").status == 200  # the prefix itself, as well as what is under it
    forged = {"x-user": "admin", "x-remote-user": "admin", "x-jwt-payload": "eyJzdWIiOiJhZG1pbiJ9"}
    reply = _node(jwt_lab, "/public/catalog", forged)
    assert reply.status == 200 and reply.upstream == "api", reply
    assert not forged.keys() & reply.json["headers"].keys(), reply.json["headers"]


def test_allow_missing_lets_requests_without_a_token_pass_but_checks_one_that_is_sent(
    jwt_lab: JwtLab, keys: Keys
) -> None:
    assert _node(jwt_lab, "/optional/feed").status == 200
    assert _node(jwt_lab, "/optional/feed", bearer(token(keys, lifetime=-3600))).status == 401
    signed = _node(jwt_lab, "/optional/feed", bearer(token(keys, subject="bob")))
    assert signed.status == 200 and signed.json["headers"]["x-user"] == "bob"


def test_a_token_signed_by_the_remote_jwks_passes_after_a_verified_https_fetch(
    jwt_lab: JwtLab, keys: Keys, key_server: KeyServer
) -> None:
    signed = token(keys, issuer=REMOTE_ISSUER, key=keys.remote, kid=REMOTE_KID, subject="carol")
    reply = _node(jwt_lab, "/orders", bearer(signed))
    assert reply.status == 200 and reply.json["headers"]["x-remote-user"] == "carol", reply
    assert reply.json["headers"]["authorization"] == f"Bearer {signed}"  # this provider forwards its tokens
    assert key_server.fetches and set(key_server.fetches) == {"/jwks.json"}
    assert set(key_server.sni) == {"localhost"}
    for path, headers in ((f"/orders?partner_token={signed}", None), ("/orders", {"x-partner-token": signed})):
        elsewhere = _node(jwt_lab, path, headers)  # the provider's other token locations
        assert elsewhere.status == 200 and elsewhere.json["headers"]["x-remote-user"] == "carol", elsewhere
    assert elsewhere.json["headers"]["x-partner-token"] == signed
    # the remote provider's issuer with a key only the inline JWKS holds is still refused
    assert _node(jwt_lab, "/orders", bearer(token(keys, issuer=REMOTE_ISSUER))).status == 401


def test_authentication_comes_before_authorization_and_keeps_its_403(jwt_lab: JwtLab, keys: Keys) -> None:
    """No token: 401 from authentication.  A valid token (from either provider) on a denied path: the
    authorization's 403, which the 401 answer for a wrong audience leaves alone."""
    assert _node(jwt_lab, "/admin/users").status == 401
    remote = token(keys, issuer=REMOTE_ISSUER, key=keys.remote, kid=REMOTE_KID)
    for signed in (token(keys), remote):
        assert _node(jwt_lab, "/admin/users", bearer(signed)).status == 403


# -- a virtual gateway ---------------------------------------------------------------------------------------


def test_a_gateway_passes_a_valid_token_to_the_target_with_the_path_rewritten(jwt_lab: JwtLab, keys: Keys) -> None:
    reply = _gateway(jwt_lab, "/shop/orders/7", bearer(token(keys, subject="dave")))
    assert reply.status == 200 and reply.upstream == "web", reply
    assert reply.json["path"] == "/orders/7"
    assert reply.json["headers"]["x-user"] == "dave" and "authorization" not in reply.json["headers"]


@pytest.mark.parametrize("claims", [None, {"lifetime": -3600}, {"audience": "another-api"}])
def test_a_gateway_refuses_a_missing_or_invalid_token_with_401(
    jwt_lab: JwtLab, keys: Keys, claims: dict[str, Any] | None
) -> None:
    headers = None if claims is None else bearer(token(keys, **claims))
    jwt_lab.web.reset()
    assert _gateway(jwt_lab, "/shop/orders/7", headers).status == 401
    assert jwt_lab.web.hits() == 0


def test_a_gateway_rule_is_matched_on_the_path_the_client_sent(jwt_lab: JwtLab) -> None:
    """The public `/shop/catalog` reaches the target as `/catalog`, which no rule makes public."""
    reply = _gateway(jwt_lab, "/shop/catalog/shoes")
    assert reply.status == 200 and reply.json["path"] == "/catalog/shoes", reply
    assert _gateway(jwt_lab, "/shop/orders").status == 401  # the rule is the gateway's, not an open door


def test_a_client_imitating_the_gateway_loop_back_hop_still_needs_a_token(jwt_lab: JwtLab) -> None:
    jwt_lab.web.reset()
    reply = _gateway(jwt_lab, "/orders/7", {TARGET_HEADER: f"{WEB}:8080"})
    assert reply.status == 401, reply
    assert jwt_lab.web.hits() == 0


@pytest.mark.parametrize("strict", [False, True], ids=["permissive", "strict"])
def test_a_tls_gateway_checks_tokens_and_still_takes_its_loop_back_hop(jwt_lab: JwtLab, keys: Keys,
                                                                         strict: bool) -> None:
    signed = _gateway(jwt_lab, "/shop/orders/8", bearer(token(keys, subject="erin")), strict=strict, tls=True)
    assert signed.status == 200 and signed.json["headers"]["x-user"] == "erin", signed
    assert _gateway(jwt_lab, "/shop/orders/8", strict=strict, tls=True).status == 401
    assert _gateway(jwt_lab, "/shop/catalog/8", strict=strict, tls=True).status == 200


def test_a_strict_gateway_still_refuses_plaintext_clients(jwt_lab: JwtLab, keys: Keys) -> None:
    """The loop-back hop's plaintext chain takes only the reserved source, not every local client."""
    reply = http_request(jwt_lab.strict.port(GATEWAY_PORT), "www.example.com", "/shop/orders/8",
                         headers=bearer(token(keys)))
    assert reply.status == 0, reply


def test_remote_key_servers_by_name_and_by_address_pass_envoy_validation(
    keys: Keys, tmp_path: Path, test_ca: TestCA
) -> None:
    """Key servers no test can reach (public names and addresses) are held to `envoy --mode validate`;
    providers on one host and port share a cluster; without a CA file the system bundle is trusted."""
    mesh = MeshBuilder(MESH)
    mesh.node("api", listener(8080), listener(8081))
    remotes = {"by-name": "https://login.example.com/.well-known/jwks.json", "by-address": "https://192.0.2.10:8443/k",
               "by-ipv6": "https://[2001:db8::1]/keys", "same-host": "https://login.example.com/other-keys"}
    trust = {"caCertificateFile": str(test_ca.cert_path)}
    section = {"providers": [{"name": name, "issuer": uri, "jwks": {"remote": {"uri": uri, **trust}}}
                             for name, uri in remotes.items()]}
    proxy = ProxyId(MESH, Kind.VIRTUAL_NODE, "api")
    state = dataclasses.replace(mesh.build(), policies={"remote": _policy("remote", NODE_TARGET, section)})
    clusters = translate(state, proxy).of(XdsType.CLUSTERS)
    hosts = ("192.0.2.10_8443", "2001:db8::1_443", "login.example.com_443")
    assert sorted(name for name in clusters if "_jwks_" in name) == [f"cds_egress_{MESH}_jwks_{h}" for h in hosts]
    validate_sidecar(state, proxy, tmp_path)
    for provider in (section["providers"][0], section["providers"][3]):  # both of login.example.com's
        del provider["jwks"]["remote"]["caCertificateFile"]
    state = dataclasses.replace(state, policies={"remote": _policy("remote", NODE_TARGET, section)})
    socket = translate(state, proxy).of(XdsType.CLUSTERS)[f"cds_egress_{MESH}_jwks_{hosts[2]}"].transport_socket
    context = tls_pb2.UpstreamTlsContext()
    socket.typed_config.Unpack(context)
    assert context.sni == "login.example.com"
    assert context.common_tls_context.validation_context.trusted_ca.filename == "/etc/pki/tls/cert.pem"


def test_a_load_balancer_health_check_needs_no_token(jwt_lab: JwtLab) -> None:
    """The gateway answers its listener's health check itself, before any token is asked for."""
    jwt_lab.web.reset()
    assert _gateway(jwt_lab, HEALTH_PATH).status == 200
    assert jwt_lab.web.hits() == 0


def test_a_tcp_listener_is_named_as_passing_without_token_checks(keys: Keys) -> None:
    """A TCP listener carries no HTTP request to read a token from: the operator is told, not left guessing."""
    mesh = MeshBuilder(MESH)
    mesh.node("api", listener(5432, "tcp"), listener(8080))
    section = {"providers": [_local_provider(keys)]}
    state = dataclasses.replace(mesh.build(), policies={"tcp": _policy("tcp", NODE_TARGET, section)})
    view, _ = resolve(state, ProxyId(MESH, Kind.VIRTUAL_NODE, "api"))
    assert view.problems == ("jwt does not apply to tcp listener 5432: it acts on HTTP requests only",)
