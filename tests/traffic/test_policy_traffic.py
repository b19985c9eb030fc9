"""The headers, mirror and rateLimit policies, proven with real traffic through real Envoys.

One mesh, three Envoys: the caller's sidecar (route policies: mirror, headers), the primary
node's sidecar (ingress headers) and a virtual gateway (rate limit, gateway route headers).

Mirror tolerance: MIRRORED requests at p = MIRROR_PERCENT / 100 = 0.5 give the shadow a
binomial count with standard deviation sqrt(400 * 0.5 * 0.5) = 10; the test accepts
200 ± 40 (4 sigma: a correct mirror fails it with probability below 1e-4).

Rate-limit tolerance: the gateway admits RATE requests per second from a bucket of
RATE + BURST.  From the first 429 on (the bucket empty), a client that always has
requests ready is admitted RATE * elapsed requests; the test allows one fill
(RATE) either way, because Envoy may add a fill's tokens at once and the window's
edges cut a fill.  Counting the gateway's loop-back hop too would admit half the
rate, and no limit would admit hundreds a second: both fall outside.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from jwt.algorithms import RSAAlgorithm
from meshplane.graph import names, resolve
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.model.policy.spec import PolicyData
from meshplane.model.state import MeshState
from meshplane.snapshot.types import XdsType
from meshplane.translate import translate
from meshplane.translate.policy import rate_limit as policy_rate_limit
from support import Lab, MeshBuilder, Reply, Sidecar, http_request, listener, target, validate_sidecar, wait_until

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("policy-traffic")]  # one Lab for the module

MESH = "policy-mesh"
SHOP = "shop.policy.local"
GATEWAY_PORT = 8088
MIRRORED = 400
MIRROR_PERCENT = 50
MIRROR_TOLERANCE = 40
RATE = 20
NODE_RATE = 5  # a minute: one token every 12 s, so a burst of requests sees the bucket alone
BURST = 10
WINDOW_S = 3.0
CLIENTS = 2
PACE_S = 0.01  # each client waits this long between requests: at most 200 a second, ten times the rate
ACCOUNT = "123456789012"


def _policy(name: str, target_: dict[str, Any], **sections: Any) -> PolicyData:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return PolicyData.model_validate(
        {
            "meshName": MESH,
            "policyName": name,
            "spec": {"targets": [target_], **sections},
            "metadata": {
                "arn": f"arn:aws:appmesh:us-west-2:{ACCOUNT}:mesh/{MESH}/policy/{name}",
                "uid": f"uid-{name}",
                "version": 1,
                "createdAt": now,
                "lastUpdatedAt": now,
                "meshOwner": ACCOUNT,
                "resourceOwner": ACCOUNT,
            },
        }
    )


def _route(prefix: str, priority: int) -> dict[str, Any]:
    action = {"weightedTargets": [target("primary")]}
    return {"priority": priority, "httpRoute": {"match": {"prefix": prefix}, "action": action}}


def _gateway_route(prefix: str) -> dict[str, Any]:
    action = {
        "target": {"virtualService": {"virtualServiceName": SHOP}},
        "rewrite": {"prefix": {"defaultPrefix": "DISABLED"}},
    }
    return {"httpRoute": {"match": {"prefix": prefix}, "action": action}}


ROUTE_HEADERS = {
    "request": {
        "add": [{"name": "x-added", "value": "policy"}],
        "set": [{"name": "x-set", "value": "100% policy"}],
        "remove": ["x-secret"],
    },
    "response": {
        "add": [{"name": "x-upstream-name", "value": "via-route"}],
        "set": [{"name": "content-type", "value": "application/vnd.shop+json"}],
        "remove": ["x-served-by"],  # set by the primary's sidecar (its ingress policy)
    },
}


def _policies() -> dict[str, PolicyData]:
    route = {"route": {"virtualRouterName": "shop-router", "routeName": "mirrored"}}
    headed = {"route": {"virtualRouterName": "shop-router", "routeName": "headed"}}
    node = {"virtualNode": {"virtualNodeName": "primary"}}
    edge = {"virtualGateway": {"virtualGatewayName": "edge"}}
    decorated = {"gatewayRoute": {"virtualGatewayName": "edge", "gatewayRouteName": "decorated"}}
    found = [
        _policy("shop-mirror", route, mirror={"virtualNodeName": "shadow", "percent": MIRROR_PERCENT}),
        _policy("shop-headers", headed, headers=ROUTE_HEADERS),
        _policy(
            "primary-ingress",
            node,
            headers={
                "request": {"set": [{"name": "x-ingress", "value": "primary"}]},
                "response": {"set": [{"name": "x-served-by", "value": "primary-sidecar"}]},
            },
        ),
        _policy("caller-limit", {"virtualNode": {"virtualNodeName": "caller"}},
                rateLimit={"requestsPerUnit": NODE_RATE, "unit": "MINUTE"}),
        _policy("edge-limit", edge, rateLimit={"requestsPerUnit": RATE, "unit": "SECOND", "burst": BURST}),
        _policy(
            "edge-headers",
            decorated,
            headers={
                "request": {"set": [{"name": "x-entry", "value": "edge"}]},
                "response": {"add": [{"name": "x-gateway-route", "value": "decorated"}]},
            },
        ),
    ]
    return {p.policy_name: p for p in found}


@dataclasses.dataclass(frozen=True)
class PolicyLab:
    caller: Sidecar
    edge: Sidecar
    primary: Any
    shadow: Any


@pytest.fixture(scope="module")
def mesh_lab(lab: Lab) -> PolicyLab:
    mesh = MeshBuilder(MESH)
    mesh.node("caller", listener(8080), backends=(SHOP,))
    mesh.node("primary", listener(8080))
    mesh.node("shadow", listener(8080))
    mesh.router("shop-router", 8080)
    mesh.route("shop-router", "mirrored", _route("/mirror", 1))
    mesh.route("shop-router", "headed", _route("/headers", 2))
    mesh.route("shop-router", "plain", _route("/", 3))
    mesh.service(SHOP, router="shop-router")
    mesh.gateway("edge", {"listeners": [{"portMapping": {"port": GATEWAY_PORT, "protocol": "http"}}]})
    mesh.gateway_route("edge", "decorated", _gateway_route("/decorated"))
    mesh.gateway_route("edge", "limited", _gateway_route("/"))
    primary_address = lab.place(mesh, "primary")
    shadow = lab.direct_http_app(mesh, "shadow", "shadow")
    state: MeshState = dataclasses.replace(mesh.build(), policies=_policies())
    primary = lab.http_app("primary", primary_address, 8080)
    lab.sidecar(state, "primary", primary_address)
    caller_address = lab.address()
    lab.http_app("caller", caller_address, 8080)
    caller = lab.sidecar(state, "caller", caller_address)
    edge = lab.sidecar(state, "edge", lab.address(), gateway=True)
    return PolicyLab(caller, edge, primary, shadow)


# -- mirror -------------------------------------------------------------------------------------------
def test_mirror_tolerance_is_four_sigma() -> None:
    p = MIRROR_PERCENT / 100
    assert MIRROR_TOLERANCE / math.sqrt(MIRRORED * p * (1 - p)) == 4


def _shadow_settled(mesh_lab: PolicyLab, before: int) -> tuple[int] | None:
    """The mirrored requests the shadow got (as a 1-tuple: zero is an answer too), once the caller's
    Envoy has none left in flight."""
    cluster = f"cluster.{names.egress_cluster(MESH, 'shadow', 'http', 8080)}"
    active, total = (mesh_lab.caller.envoy.stat(f"{cluster}.upstream_rq_{s}") for s in ("active", "total"))
    hits = mesh_lab.shadow.hits()
    return (hits,) if active == 0 and hits == total - before else None


def _shadow_total(mesh_lab: PolicyLab) -> int:
    return mesh_lab.caller.envoy.stat(f"cluster.{names.egress_cluster(MESH, 'shadow', 'http', 8080)}.upstream_rq_total")


def test_shadow_gets_its_share_and_every_response_comes_from_the_primary(mesh_lab: PolicyLab) -> None:
    mesh_lab.shadow.reset()
    before = _shadow_total(mesh_lab)
    with ThreadPoolExecutor(CLIENTS) as pool:
        replies = list(
            pool.map(lambda i: http_request(mesh_lab.caller.egress, f"{SHOP}:8080", f"/mirror/{i}"), range(MIRRORED))
        )
    assert Counter(r.upstream for r in replies) == Counter({"primary": MIRRORED}), Counter(r.status for r in replies)
    # the copies are sent fire-and-forget: count them once the caller has none in flight
    (shadowed,) = wait_until(lambda: _shadow_settled(mesh_lab, before), 10, what="mirrored requests to settle")
    assert abs(shadowed - MIRRORED * MIRROR_PERCENT / 100) <= MIRROR_TOLERANCE, shadowed
    seen = mesh_lab.shadow.requests()
    assert {r.path for r in seen} <= {f"/mirror/{i}" for i in range(MIRRORED)}
    assert all("-shadow" in r.headers["host"] for r in seen), {r.headers["host"] for r in seen}


def _mirror_state(shadow: str, *, protocol: str = "http") -> MeshState:
    """A caller whose route mirrors to `shadow`; the mesh also has a tcp-only node `pipe`."""
    mesh = MeshBuilder(MESH)
    mesh.node("caller", backends=(SHOP,))
    mesh.node("primary", listener(8080, protocol))
    mesh.node("shadow", listener(9090), listener(8080))
    mesh.node("pipe", listener(8080, "tcp"))
    mesh.router("shop-router", (8080, protocol))
    body = {"match": {"prefix": "/"}} if protocol == "http" else {}
    kind = "httpRoute" if protocol == "http" else "tcpRoute"
    mesh.route("shop-router", "mirrored", {kind: {**body, "action": {"weightedTargets": [target("primary")]}}})
    mesh.service(SHOP, router="shop-router")
    route = {"route": {"virtualRouterName": "shop-router", "routeName": "mirrored"}}
    policy = _policy("shop-mirror", route, mirror={"virtualNodeName": shadow, "percent": 10})
    return dataclasses.replace(mesh.build(), policies={policy.policy_name: policy})


def test_the_caller_gets_a_cluster_for_the_shadow_on_the_primarys_port_and_depends_on_it() -> None:
    view, resolver = resolve(_mirror_state("shadow"), ProxyId(MESH, Kind.VIRTUAL_NODE, "caller"))
    shadow = names.egress_cluster(MESH, "shadow", "http", 8080)
    assert view.services[0].routes[0].mirror_cluster == shadow
    assert shadow in {u.cluster for u in view.upstreams}
    assert ResourceKey(Kind.VIRTUAL_NODE, MESH, "shadow") in resolver.keys
    assert view.problems == ()


@pytest.mark.parametrize(
    ("shadow", "protocol", "problem"),
    [
        ("gone", "http", "mirror to 'gone': the virtual node does not exist; not mirrored"),
        ("pipe", "http", "mirror to 'pipe': the virtual node has no http listener; not mirrored"),
        ("shadow", "tcp", "mirror to 'shadow': a tcp route has no requests to mirror; not mirrored"),
    ],
)
def test_a_mirror_that_cannot_be_built_is_named_and_left_out(shadow: str, protocol: str, problem: str) -> None:
    view, _ = resolve(_mirror_state(shadow, protocol=protocol), ProxyId(MESH, Kind.VIRTUAL_NODE, "caller"))
    assert view.problems == (f"route 'mirrored': {problem}",)
    assert view.services[0].routes[0].mirror_cluster is None
    assert {u.node for u in view.upstreams} == {"primary"}


def test_routes_without_a_mirror_are_not_copied(mesh_lab: PolicyLab) -> None:
    mesh_lab.shadow.reset()
    replies = [http_request(mesh_lab.caller.egress, f"{SHOP}:8080", f"/plain/{i}") for i in range(20)]
    assert all(r.status == 200 and r.upstream == "primary" for r in replies)
    assert mesh_lab.shadow.hits() == 0


# -- headers ------------------------------------------------------------------------------------------
def _values(lines: tuple[tuple[str, str], ...], name: str) -> list[str]:
    return [value for key, value in lines if key == name]


def test_route_headers_are_added_set_and_removed_on_request_and_response(mesh_lab: PolicyLab) -> None:
    sent = {"x-added": "client", "x-set": "client", "x-secret": "s3cret", "x-kept": "kept"}
    reply = http_request(mesh_lab.caller.egress, f"{SHOP}:8080", "/headers/1", headers=sent)
    assert reply.status == 200 and reply.json["name"] == "primary", reply
    seen = mesh_lab.primary.requests("/headers/1")[-1].lines
    assert _values(seen, "x-added") == ["client", "policy"]  # appended: the client's value stays
    assert _values(seen, "x-set") == ["100% policy"]  # overwritten, and the value taken literally
    assert _values(seen, "x-secret") == []
    assert _values(seen, "x-kept") == ["kept"]
    assert _values(reply.header_lines, "x-upstream-name") == ["primary", "via-route"]
    assert _values(reply.header_lines, "content-type") == ["application/vnd.shop+json"]
    assert _values(reply.header_lines, "x-served-by") == []


def test_node_ingress_headers_apply_to_every_request_the_node_serves(mesh_lab: PolicyLab) -> None:
    for path in ("/headers/2", "/plain/2"):
        reply = http_request(mesh_lab.caller.egress, f"{SHOP}:8080", path)
        assert reply.json["headers"]["x-ingress"] == "primary", path
    # on the response only where the caller's route does not remove it again
    reply = http_request(mesh_lab.caller.egress, f"{SHOP}:8080", "/plain/2")
    assert reply.headers["x-served-by"] == "primary-sidecar"


def test_route_headers_stay_on_their_route(mesh_lab: PolicyLab) -> None:
    reply = http_request(mesh_lab.caller.egress, f"{SHOP}:8080", "/plain/3", headers={"x-secret": "s3cret"})
    assert reply.json["headers"]["x-secret"] == "s3cret"
    assert _values(reply.header_lines, "x-upstream-name") == ["primary"]


# -- rate limit ---------------------------------------------------------------------------------------
def _through_edge(mesh_lab: PolicyLab, path: str, **kwargs: Any) -> Reply:
    return http_request(mesh_lab.edge.port(GATEWAY_PORT), "www.example.com", path, **kwargs)


def _until_limited(mesh_lab: PolicyLab) -> tuple[int, float]:
    """Send one request at a time until the first 429: (requests admitted before it, seconds it took)."""
    started = time.monotonic()
    admitted = 0
    while True:
        reply = _through_edge(mesh_lab, "/")
        if reply.status == 429:
            return admitted, time.monotonic() - started
        assert reply.status == 200, reply
        admitted += 1
        assert admitted <= 10 * (RATE + BURST), "never limited"


def _drive(mesh_lab: PolicyLab, seconds: float) -> tuple[Counter[int], float, Reply | None]:
    """CLIENTS threads keep sending for `seconds`: statuses, time taken, one 429 reply."""
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    def client(_: int) -> list[Reply]:
        out = []
        while time.monotonic() < deadline:
            out.append(_through_edge(mesh_lab, "/"))
            time.sleep(PACE_S)
        return out

    with ThreadPoolExecutor(CLIENTS) as pool:
        replies = [r for batch in pool.map(client, range(CLIENTS)) for r in batch]
    elapsed = time.monotonic() - started
    limited = next((r for r in replies if r.status == 429), None)
    return Counter(r.status for r in replies), elapsed, limited


def test_gateway_admits_its_burst_then_its_rate_and_answers_429_beyond(mesh_lab: PolicyLab) -> None:
    admitted, took = _until_limited(mesh_lab)
    # a full bucket first (the gateway was idle), plus what refilled while those requests ran
    assert RATE + BURST <= admitted <= RATE + BURST + RATE * math.ceil(took) + RATE, (admitted, took)
    statuses, elapsed, limited = _drive(mesh_lab, WINDOW_S)
    assert set(statuses) == {200, 429}, statuses
    assert abs(statuses[200] - RATE * elapsed) <= RATE, (statuses, elapsed)
    assert limited is not None and limited.headers["x-ratelimit-limit"].startswith(str(RATE + BURST))


def _admitted(mesh_lab: PolicyLab, path: str, **kwargs: Any) -> Reply:
    """The first reply through the gateway that is not a 429 (the rate test may have spent the budget)."""

    def attempt() -> Reply | None:
        reply = _through_edge(mesh_lab, path, **kwargs)
        return reply if reply.status != 429 else None

    reply = wait_until(attempt, 10, what="a request the gateway admits")
    assert reply.status == 200, reply
    return reply


def test_node_ingress_admits_its_budget_per_minute_then_answers_429(mesh_lab: PolicyLab) -> None:
    started = time.monotonic()
    replies = [http_request(mesh_lab.caller.ingress, "caller.policy.local", f"/in/{i}") for i in range(NODE_RATE + 3)]
    refilled = math.ceil((time.monotonic() - started) * NODE_RATE / 60)  # tokens a slow machine may have regained
    statuses = [r.status for r in replies]
    assert set(statuses) == {200, 429}, statuses
    admitted = statuses.count(200)
    assert NODE_RATE <= admitted <= NODE_RATE + refilled, statuses
    assert statuses[:NODE_RATE] == [200] * NODE_RATE, statuses
    limited = next(r for r in replies if r.status == 429)
    assert limited.headers["x-ratelimit-limit"].startswith(str(NODE_RATE))
    # egress is not the node's ingress: calls out of the node are not limited
    assert all(http_request(mesh_lab.caller.egress, f"{SHOP}:8080", "/plain/x").status == 200 for _ in range(3))


def test_gateway_route_headers_apply_to_that_route(mesh_lab: PolicyLab) -> None:
    reply = _admitted(mesh_lab, "/decorated/1", headers={"x-entry": "client"})
    assert reply.json["headers"]["x-entry"] == "edge"
    assert reply.headers["x-gateway-route"] == "decorated"
    plain = _admitted(mesh_lab, "/other")
    assert "x-gateway-route" not in plain.headers


def _jwks() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "RS256", "use": "sig"}
    return json.dumps({"keys": [jwk]})


def test_a_gateway_with_jwt_too_counts_on_its_own_loop_back_chain(tmp_path: Path) -> None:
    """With a jwt section the loop-back hop lands on a chain of its own: the limit must be there too,
    and the whole config must load in Envoy."""
    mesh = MeshBuilder(MESH)
    mesh.gateway("edge", {"listeners": [{"portMapping": {"port": GATEWAY_PORT, "protocol": "http"}}]})
    mesh.gateway_route("edge", "limited", _gateway_route("/"))
    mesh.node("primary", listener(8080))
    mesh.service(SHOP, node="primary")
    edge = {"virtualGateway": {"virtualGatewayName": "edge"}}
    provider = {"name": "local", "issuer": "https://issuer.example", "jwks": {"inline": _jwks()}}
    policy = _policy(
        "edge", edge, rateLimit={"requestsPerUnit": RATE, "unit": "SECOND"}, jwt={"providers": [provider]}
    )
    state = dataclasses.replace(mesh.build(), policies={policy.policy_name: policy})
    proxy = ProxyId(MESH, Kind.VIRTUAL_GATEWAY, "edge")
    chains: dict[str, list[str]] = {}
    for listener_ in translate(state, proxy).resources[XdsType.LISTENERS].values():
        for chain in listener_.filter_chains:
            manager = hcm.HttpConnectionManager()
            chain.filters[0].typed_config.Unpack(manager)
            chains[chain.name] = [f.name for f in manager.http_filters]
    assert len(chains) == 2, chains  # the client's chain and the loop-back chain
    assert all(policy_rate_limit.FILTER in filters for filters in chains.values()), chains
    validate_sidecar(state, proxy, tmp_path)


def test_a_tcp_listener_is_named_as_passing_without_the_http_only_sections() -> None:
    mesh = MeshBuilder(MESH)
    mesh.node("db", listener(5432, "tcp"), listener(8080))
    node = {"virtualNode": {"virtualNodeName": "db"}}
    headers = {"request": {"set": [{"name": "x-a", "value": "1"}]}}
    policy = _policy("db", node, rateLimit={"requestsPerUnit": 5, "unit": "SECOND"}, headers=headers)
    state = dataclasses.replace(mesh.build(), policies={policy.policy_name: policy})
    view, _ = resolve(state, ProxyId(MESH, Kind.VIRTUAL_NODE, "db"))
    assert view.problems == (
        "headers does not apply to tcp listener 5432: it acts on HTTP requests only",
        "rateLimit does not apply to tcp listener 5432: it acts on HTTP requests only",
    )
