"""Zone-aware routing on real traffic: each front instance keeps blue's answers in its own zone, and
spills over to the other zone once its own zone's blue instance fails.

blue's `zoneAware` policy (`mesh.ZONE_POLICY`) is written with the mesh, before any Envoy starts,
and blue has one instance per zone.  front-1 runs in the first zone from the start; alone, it holds
all of front's instances against half of blue's, so Envoy balances it across both zones as before.
Here front-2 starts in the second zone (before the other policy checks, whose OTLP stand-in runs
gRPC threads that forbid later forks) and registers in Cloud Map once they are done: then each zone
holds half of front's instances and half of blue's, and each front's Envoy sends all its requests to
its own zone.  The requests go straight to front-2's app, which calls `color` through its own
sidecar; the route sends everything to blue by now.  front-2 is the caller measured: front-1 may
still hold blue-2 ejected (30 s) from `beyond`'s ejection check, which would keep its answers in its
zone without any zone-aware choice (Envoy then balances it plainly over the one healthy host).

- Locality: REQUESTS must clear the bar of `demo.zones` (18 of 20; by chance 2e-4), and front-2's
  Envoy must count each of them in `lb_zone_routing_all_directly`.
- Spill-over: blue-2 (second zone) answers 500 to everything.  front-2's Envoy retries each 500
  (maxRetries 3) and ejects blue-2 after 2 in a row (App Mesh's maxServerErrors), leaving its zone no
  healthy blue, so it sends the rest to blue-1.  At least SPILL_REQUESTS - 1 of SPILL_REQUESTS must come
  back 200 from the first zone: the first request is the one whose attempts meet blue-2 until it is ejected.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from meshplane.demo import mesh, observe, rollouts
from meshplane.demo import stack as stacks
from meshplane.demo.calls import Answer, get
from meshplane.demo.envoy import DemoError, Sidecar
from meshplane.demo.plan import APP_PORT, ZONES
from meshplane.demo.report import PolicyCheck
from meshplane.demo.stack import Stack
from meshplane.demo.zones import LOCAL_PERCENT, kept_local, local_at_least
from meshplane.localnet.waiting import poll
from meshplane.model.policy.zone_aware import LOCAL_CLUSTER

CALLERS = ("front-1", "front-2")  # one per zone
JOINING = CALLERS[1]
FAILING = "blue-2"
REQUESTS = 20
SPILL_REQUESTS = 10
SETTLE_SECONDS = 20.0
SPILL_STATS = ("outlier_detection.ejections_enforced_total", "upstream_rq_retry")
DIRECT = "lb_zone_routing_all_directly"  # Envoy's count of picks its zone-aware balancer kept in the local zone


def start_caller(stack: Stack) -> None:
    """front-2's app and sidecar in the second zone, not registered yet: nothing reaches it until `check`."""
    stacks.start_instance(stack, "front", JOINING, "v1", "cloudmap", ZONES[1])


def _blue_cluster(sidecar: Sidecar) -> str:
    return next((name for name in sidecar.clusters() if observe.color_of(name) == "blue"), "")


def _ready(stack: Stack) -> bool:
    """Both fronts' local clusters hold both front instances, and front-2 sees blue's two instances."""
    try:
        sidecars = [stack.running[name].sidecar for name in CALLERS]
        joined = sidecars[1]
        return (all(len(s.hosts(LOCAL_CLUSTER)) == len(CALLERS) for s in sidecars)
                and len(joined.healthy_hosts(_blue_cluster(joined))) == 2)  # fmt: skip
    except (OSError, ValueError):
        return False


def _zones_of(stack: Stack, caller: str, path: str, count: int) -> tuple[Counter[str], list[Answer]]:
    """`count` requests, one at a time, through `caller`'s app: the zones whose blue answered (200s only)."""
    running = stack.running[caller]
    answers = [get((running.instance.address, APP_PORT), f"/{path}/{i}") for i in range(count)]
    zone = {name: r.instance.zone or "" for name, r in stack.running.items()}
    return Counter(zone.get(str(a.body.get("backend", {}).get("instance")), "") for a in answers
                   if a.status == 200 and a.color == "blue"), answers  # fmt: skip


def _locality(stack: Stack) -> dict[str, Any]:
    """front-2's answers by zone, and how many of its picks Envoy's zone-aware balancer kept local."""
    zone, sidecar = stack.running[JOINING].instance.zone or "", stack.running[JOINING].sidecar
    before = observe.color_stats(sidecar, "blue", (DIRECT,))[DIRECT]
    answered_from, answers = _zones_of(stack, JOINING, "zoned", REQUESTS)
    direct = observe.color_stats(sidecar, "blue", (DIRECT,))[DIRECT] - before
    answered = sum(answered_from.values())
    return {"name": JOINING, "zone": zone, "answered_from": dict(answered_from), "kept": answered_from[zone],
            "ok_answers": answered, "routed_directly": direct,
            "ok": kept_local(answered_from, zone) and answered == len(answers) and direct >= REQUESTS}  # fmt: skip


def _spill(stack: Stack) -> dict[str, Any]:
    joined = stack.running[JOINING].sidecar
    before = observe.color_stats(joined, "blue", SPILL_STATS)
    rollouts.fault(stack, "blue", 1.0, instance=FAILING)
    try:
        answered_from, answers = _zones_of(stack, JOINING, "spilled", SPILL_REQUESTS)
    finally:
        rollouts.fault(stack, "blue", 0.0, instance=FAILING)
    after = observe.color_stats(joined, "blue", SPILL_STATS)
    return {"failing": FAILING, "requests": SPILL_REQUESTS, "answered_from": dict(answered_from),
            "client_errors": sum(a.status != 200 for a in answers),
            **{stat.rsplit(".", 1)[-1]: after[stat] - before[stat] for stat in SPILL_STATS}}  # fmt: skip


def check(stack: Stack) -> PolicyCheck:
    """Register front-2, wait for both fronts' Envoys to see it, then measure its locality and spill-over."""
    stacks.register(stack, stack.running[JOINING].instance)
    if not poll(lambda: _ready(stack), SETTLE_SECONDS, interval=0.1):
        raise DemoError(f"{JOINING}'s registration did not reach the fronts' Envoys within {SETTLE_SECONDS:.0f}s")
    locality, spill = _locality(stack), _spill(stack)
    spilled = spill["answered_from"].get(ZONES[0], 0)
    ok = locality["ok"] and spilled >= SPILL_REQUESTS - 1 and spill["ejections_enforced_total"] >= 1
    measured = {"requests": REQUESTS, "local_percent": LOCAL_PERCENT, "local_at_least": local_at_least(REQUESTS),
                "caller": locality, "spill": spill}  # fmt: skip
    line = (f"{JOINING} ({locality['zone']}) kept {locality['kept']} of {REQUESTS} requests in its zone "
            f"(≥ {local_at_least(REQUESTS)}, {LOCAL_PERCENT} %), its Envoy routing {locality['routed_directly']} "
            f"directly; {FAILING} failing: {JOINING}'s Envoy ejected it and {spilled} of {SPILL_REQUESTS} requests "
            f"spilled over to {ZONES[0]}, {spill['client_errors']} client errors")
    return PolicyCheck(section="zoneAware", policy=mesh.ZONE_POLICY, evidence=line, measured=measured, ok=ok)
