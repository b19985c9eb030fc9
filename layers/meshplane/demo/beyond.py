"""Beyond App Mesh: the demo's policy sections, each written through the Policy API and shown on real traffic.

Run once the rollouts are over and the steady traffic has stopped, so every request counted
here is one of the check's own.  The policies go in one batch and the check waits once for all
the Envoys to hold them (their config dumps); the rate limit goes last, in its own write, since
green is also the mirror's shadow and the copies would spend its budget.

Request counts are kept small, with the tolerance stated where chance plays a part:
- mirror: MIRROR_REQUESTS at MIRROR_PERCENT give the shadow a binomial count with standard
  deviation sqrt(100 * 0.5 * 0.5) = 5; 50 ± 20 (4 sigma) is accepted (a correct mirror misses
  it with probability below 1e-4);
- rate limit: a bucket of RATE_PER_MINUTE tokens refilled one token every 60 / 5 = 12 s, so a
  burst of RATE_REQUESTS taking well under a second admits 5 (6 if a refill falls inside it);
- ejection: blue-2 answers 500 to every other request, never two in a row (the requests go one at a
  time, so no two answers swap places on the way), so App Mesh's consecutive-5xx rule (maxServerErrors 2)
  cannot eject it, and only the failure-percentage rule
  (50 % >= its threshold, `mesh.EJECTION`) can; rounds of requests go until front's Envoy counts the
  ejection.  That policy is written with the mesh (`mesh.resilience`), before any Envoy starts.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from meshplane.demo import mesh, observe, rollouts
from meshplane.demo import stack as stacks
from meshplane.demo.authorization import status_as
from meshplane.demo.calls import Answer, get, many
from meshplane.demo.envoy import DemoError
from meshplane.demo.otlp import OtlpCollector
from meshplane.demo.plan import APP_PORT
from meshplane.demo.report import PolicyCheck
from meshplane.demo.stack import Stack
from meshplane.demo.tokens import AUDIENCE, ISSUER, Issuer
from meshplane.localnet.waiting import poll

MIRROR_REQUESTS, MIRROR_PERCENT, MIRROR_TOLERANCE = 100, 50, 20
RATE_PER_MINUTE, RATE_REQUESTS = 5, 10
TRACE_REQUESTS = 10  # two batches of Envoy's 5-span flush at every proxy on the path
EJECT_ROUND = 10
SETTLE_SECONDS = 20.0
HEADERS_PATIENCE_S = 5.0  # the first answer of a listener the policy batch replaced may be a 503
SHADOW = "green"
FAILING = "blue-2"


# -- the policies, as a user writes them -------------------------------------------------------------


def tracing_spec(collector: OtlpCollector) -> dict[str, Any]:
    return {"targets": [{"mesh": {}}], "tracing": {"collector": {"hostname": "127.0.0.1", "port": collector.port},
                                                   "samplingPercent": 100}}


def specs(stack: Stack, issuer: Issuer) -> dict[str, dict[str, Any]]:
    plan = stack.plan
    gateway = {"virtualGateway": {"virtualGatewayName": plan.gateway}}
    provider = {"name": "demo-idp", "issuer": ISSUER, "audiences": [AUDIENCE], "jwks": {"inline": issuer.jwks()}}
    return {
        "color-mirror": {"targets": [{"route": {"virtualRouterName": plan.router, "routeName": plan.route}}],
                         "mirror": {"virtualNodeName": SHADOW, "percent": MIRROR_PERCENT}},
        "edge-headers": {"targets": [{"gatewayRoute": {"virtualGatewayName": plan.gateway,
                                                       "gatewayRouteName": "to-front"}}],
                         "headers": {"request": {"set": [{"name": "x-demo-tenant", "value": "blue-team"}],
                                                 "remove": ["x-demo-secret"]},
                                     "response": {"add": [{"name": "x-demo-policy", "value": "edge-headers"}]}}},
        "edge-jwt": {"targets": [gateway], "jwt": {"providers": [provider], "rules": [
            {"match": {"prefix": "/"}, "allowMissing": True}, {"match": {"prefix": "/account"},
                                                               "providers": ["demo-idp"]}]}},
    }  # fmt: skip


RATE_LIMIT = {"targets": [{"virtualNode": {"virtualNodeName": SHADOW}}],
              "rateLimit": {"requestsPerUnit": RATE_PER_MINUTE, "unit": "MINUTE"}}
# what each Envoy's config dump holds once it has the policies above
MARKERS = {"gateway": ("envoy.filters.http.jwt_authn", "x-demo-tenant", "opentelemetry"),
           "front-1": ("request_mirror_policies", "opentelemetry"),
           "blue-1": ("opentelemetry",), "blue-2": ("opentelemetry",), "green-1": ("opentelemetry",),
           "green-2": ("opentelemetry",)}  # fmt: skip


WARMING = frozenset({"warming_state", "dynamic_warming_clusters", "draining_state"})


def in_use(node: Any) -> Any:
    """A config dump without what Envoy holds but does not serve yet (warming) or any more (draining)."""
    if isinstance(node, dict):
        return {k: in_use(v) for k, v in node.items() if k not in WARMING}
    if isinstance(node, list):
        return [in_use(v) for v in node]
    return node


def applied(stack: Stack, markers: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """Seconds until each named sidecar serves config showing all its markers."""
    started = time.monotonic()
    reached: dict[str, float] = {}

    def holds(name: str) -> bool:
        if name not in reached:
            try:
                dump = json.dumps(in_use(stack.running[name].sidecar.config_dump()))
            except (OSError, ValueError):
                return False
            if all(marker in dump for marker in markers[name]):
                reached[name] = round(time.monotonic() - started, 3)
        return name in reached

    if not poll(lambda: all([holds(name) for name in markers]), SETTLE_SECONDS, interval=0.1):
        late = [name for name in markers if not holds(name)]
        raise DemoError(f"the policies did not reach the Envoys of {late} within {SETTLE_SECONDS:.0f}s")
    listeners_settled(stack, list(markers))
    return reached


# what a config update moves in Envoy's stats; the checks' traffic starts once none moved for QUIET_SECONDS
UPDATES = r"^listener_manager\.(lds\.update_success|total_listeners_(warming|draining)|listener_(added|modified))$"
QUIET_SECONDS = 1.0


def listeners_settled(stack: Stack, names: list[str]) -> None:
    """Wait until the named Envoys took no config update for QUIET_SECONDS and none drains or warms a listener.

    A batch of policies reaches an Envoy as one or more pushes; a listener replaced while a check's request
    rides on it closes that connection (local Envoys drain in 0 s), so the checks start on settled listeners."""
    last: list[dict[str, dict[str, int]]] = []

    def quiet() -> bool:
        try:
            now = {name: stack.running[name].sidecar.stats(UPDATES) for name in names}
        except (OSError, ValueError):  # an admin port that did not answer this time
            return False
        still = bool(last) and now == last[-1] and all(
            not stats.get(f"listener_manager.total_listeners_{state}") for stats in now.values()
            for state in ("warming", "draining"))  # fmt: skip
        last.append(now)
        return still

    if not poll(quiet, SETTLE_SECONDS, interval=QUIET_SECONDS):
        raise DemoError(f"the Envoys of {names} kept taking listener updates for {SETTLE_SECONDS:.0f}s")


# -- the checks ----------------------------------------------------------------------------------------


def headers(stack: Stack) -> PolicyCheck:
    sent = {"x-demo-tenant": "forged", "x-demo-secret": "s3cr3t"}

    def answered() -> Answer | None:  # a listener the batch replaced may refuse the first connection (503)
        reply = get(stack.gateway_address, "/", sent)
        return reply if 0 < reply.status < 500 else None

    answer = poll(answered, HEADERS_PATIENCE_S, interval=0.2) or get(stack.gateway_address, "/", sent)
    seen = answer.body.get("headers", {})
    measured = {"status": answer.status, "seen_at_front": seen, "response_header": answer.headers.get("x-demo-policy")}
    ok = seen == {"x-demo-tenant": "blue-team"} and measured["response_header"] == "edge-headers"
    line = (f"sent x-demo-tenant: forged and x-demo-secret; front saw {seen}; the response carried "
            f"x-demo-policy: {measured['response_header']}")
    return PolicyCheck(section="headers", policy="edge-headers", evidence=line, measured=measured, ok=ok)


def jwt(stack: Stack, issuer: Issuer) -> PolicyCheck:
    def status(path: str, token: str | None) -> int:
        return get(stack.gateway_address, path, {"authorization": f"Bearer {token}"} if token else {}).status

    measured = {"valid": status("/account", issuer.token(300)), "expired": status("/account", issuer.token(-600)),
                "missing": status("/account", None), "public_without_token": status("/", None)}  # fmt: skip
    ok = measured == {"valid": 200, "expired": 401, "missing": 401, "public_without_token": 200}
    line = (f"/account: valid token {measured['valid']}, expired {measured['expired']}, missing {measured['missing']}"
            f"; / without a token {measured['public_without_token']}")
    return PolicyCheck(section="jwt", policy="edge-jwt", evidence=line, measured=measured, ok=ok)


def _shadowed(stack: Stack, segment: str = "mirror") -> int:
    """Mirrored copies of `/<segment>/...` requests the shadow node's apps received (each counts its own)."""
    total = 0
    for running in stack.running.values():
        if running.instance.node == SHADOW:
            answer = get((running.instance.address, APP_PORT), "/_demo/shadowed")
            total += int(answer.body.get("shadowed", {}).get(segment, 0))
    return total


def mirror(stack: Stack) -> PolicyCheck:
    front = stack.running["front-1"].sidecar
    names = ("upstream_rq_total", "upstream_rq_active")
    before, received_before = observe.color_stats(front, SHADOW, names), _shadowed(stack)
    answers = many(stack.gateway_address, [f"/mirror/{i}" for i in range(MIRROR_REQUESTS)])

    last: list[int] = []

    def settled() -> tuple[int, int] | None:
        """Copies are fire and forget: count once none is in flight and the shadows' count held for a poll."""
        now, received = observe.color_stats(front, SHADOW, names), _shadowed(stack) - received_before
        held = last[-1:] == [received]
        last.append(received)
        attempts = now["upstream_rq_total"] - before["upstream_rq_total"]
        return (attempts, received) if now["upstream_rq_active"] == 0 and held else None

    attempts, received = poll(settled, 5.0, interval=0.2) or (-1, _shadowed(stack) - received_before)
    answered = Counter(a.color if a.status == 200 else str(a.status) for a in answers)
    measured = {"requests": MIRROR_REQUESTS, "percent": MIRROR_PERCENT, "copy_attempts": attempts,
                "shadow_received": received, "tolerance": MIRROR_TOLERANCE, "answered_by": dict(answered),
                "failures": sorted({f"{a.status} {a.text}".strip() for a in answers if a.status != 200})}
    ok = abs(received - MIRROR_REQUESTS * MIRROR_PERCENT / 100) <= MIRROR_TOLERANCE and answered == Counter(
        {"blue": MIRROR_REQUESTS})
    line = (f"{SHADOW} (shadow) received {received} of {MIRROR_REQUESTS} requests' copies at {MIRROR_PERCENT} % "
            f"(50 ± {MIRROR_TOLERANCE}); answers: {dict(answered)}"
            + (f"; failed: {measured['failures']}" if measured["failures"] else ""))
    return PolicyCheck(section="mirror", policy="color-mirror", evidence=line, measured=measured, ok=ok)


def tracing(stack: Stack, collector: OtlpCollector) -> PolicyCheck:
    """Spans the stand-in receives while TRACE_REQUESTS go through gateway → front → blue."""
    before = collector.services()
    answers = many(stack.gateway_address, [f"/traced/{i}" for i in range(TRACE_REQUESTS)])
    wanted = {f"{stack.plan.mesh}/{name}" for name in (stack.plan.gateway, "front", "blue")}

    def new_spans() -> dict[str, int]:
        return {name: count - before.get(name, 0) for name, count in collector.services().items()
                if count > before.get(name, 0)}  # fmt: skip

    poll(lambda: wanted <= set(new_spans()), 10.0, interval=0.1)
    services = new_spans()
    measured = {"requests": TRACE_REQUESTS, "ok": sum(a.status == 200 for a in answers), "spans": services}
    line = f"{TRACE_REQUESTS} requests → new spans at the OTLP stand-in: " + ", ".join(
        f"{name.rsplit('/', 1)[-1]} {count}" for name, count in sorted(services.items()))
    return PolicyCheck(section="tracing", policy="mesh-tracing", evidence=line, measured=measured,
                       ok=wanted <= set(services))


EJECTION_STATS = ("outlier_detection.ejections_enforced_failure_percentage",
                  "outlier_detection.ejections_enforced_consecutive_5xx", "upstream_rq_retry",
                  "upstream_rq_retry_overflow")  # fmt: skip


def ejection(stack: Stack) -> PolicyCheck:
    front = stack.running["front-1"].sidecar
    before = observe.color_stats(front, "blue", EJECTION_STATS)
    rollouts.fault(stack, "blue", 0.5, instance=FAILING)
    answers: list[Answer] = []
    started = time.monotonic()

    def ejected() -> dict[str, int] | None:  # one at a time: answers reordered in flight could look like 2 in a row
        answers.extend(get(stack.gateway_address, "/") for _ in range(EJECT_ROUND))
        now = observe.color_stats(front, "blue", EJECTION_STATS)
        return now if now[EJECTION_STATS[0]] > before[EJECTION_STATS[0]] else None

    try:
        after = poll(ejected, SETTLE_SECONDS, interval=0.0) or observe.color_stats(front, "blue", EJECTION_STATS)
    finally:
        rollouts.fault(stack, "blue", 0.0, instance=FAILING)
    delta = {stat.rsplit(".", 1)[-1]: after[stat] - before[stat] for stat in EJECTION_STATS}
    measured = {"requests": len(answers), "client_errors": sum(a.status != 200 for a in answers),
                "seconds": round(time.monotonic() - started, 2), **delta}
    ok = delta["ejections_enforced_failure_percentage"] >= 1 and delta["ejections_enforced_consecutive_5xx"] == 0
    line = (f"{FAILING} failing every other request (never twice in a row): ejected by failure percentage after "
            f"{measured['requests']} requests in {measured['seconds']}s, consecutive-5xx ejections "
            f"{delta['ejections_enforced_consecutive_5xx']}; {measured['client_errors']} client errors, front's Envoy "
            f"retried {delta['upstream_rq_retry']} times, {delta['upstream_rq_retry_overflow']} over the retry budget")
    return PolicyCheck(section="outlierDetection+retryBudget", policy="blue-resilience", evidence=line,
                       measured=measured, ok=ok)


def rate_limit(stack: Stack) -> PolicyCheck:
    target = f"{SHADOW}-1"
    statuses = Counter(status_as(stack, "front", target) for _ in range(RATE_REQUESTS))
    measured = {"per_minute": RATE_PER_MINUTE, "requests": RATE_REQUESTS, "statuses": dict(statuses)}
    ok = RATE_PER_MINUTE <= statuses[200] <= RATE_PER_MINUTE + 1 and statuses[200] + statuses[429] == RATE_REQUESTS
    line = (f"{RATE_PER_MINUTE} a minute at each {SHADOW} instance: {RATE_REQUESTS} requests to {target} → "
            f"{statuses[200]} x 200, {statuses[429]} x 429")
    return PolicyCheck(section="rateLimit", policy=f"{SHADOW}-limit", evidence=line, measured=measured, ok=ok)


def run(stack: Stack, step: Callable[[str], Any], timings: dict[str, float]) -> list[PolicyCheck]:
    """Write the policies, wait for the Envoys, then show each; `step(text)` frames each part for the view,
    and `timings` gets the seconds of each part."""
    clock, issuer = _Clock(timings), Issuer()
    if not stack.running[f"{SHADOW}-2"].sidecar.child.running:
        with step(f"Starting {SHADOW}-2 again (killed above; its registration stands), so both shadows are up"):
            stacks.restart(stack, f"{SHADOW}-2")
        clock.lap("policy_shadow_restart")
    collector = OtlpCollector("127.0.0.1")  # gRPC's threads from here on: no more forks
    try:
        with step("Writing 4 policies through the Policy API and waiting for the Envoys to hold them"):
            for name, spec in {**specs(stack, issuer), "mesh-tracing": tracing_spec(collector)}.items():
                mesh.create_policy(stack.clients.appmesh, stack.plan, name, spec)
            clock.lap("policy_writes")
            reached = applied(stack, MARKERS)
            clock.lap("policy_writes_to_envoys")
            timings.update({f"policy_writes_to_{name}": seconds for name, seconds in reached.items()})
        checks = [headers(stack), jwt(stack, issuer), mirror(stack), tracing(stack, collector), ejection(stack)]
        clock.lap("policy_checks")
        with step(f"Writing {SHADOW}-limit (rateLimit) through the Policy API"):
            mesh.create_policy(stack.clients.appmesh, stack.plan, f"{SHADOW}-limit", RATE_LIMIT)
            applied(stack, {f"{SHADOW}-1": ("DRAFT_VERSION_03",)})  # the bucket, on the route configuration
        clock.lap("policy_rate_limit_to_envoy")
        return [*checks, rate_limit(stack)]
    finally:
        collector.close()


class _Clock:
    """Seconds since the previous lap, into `timings` by name."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings, self.last = timings, time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.timings[name], self.last = round(now - self.last, 3), now
