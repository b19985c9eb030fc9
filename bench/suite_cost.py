"""The AWS bill, counted: every call the pipeline makes against moto in server mode, per scenario and mesh size.

For each mesh size the suite starts its own emulator (`python -m meshplane.local.motoserver`,
as `meshplane local up` runs it), writes the mesh and registers its Cloud Map instances
(uncounted: the user and ECS do that), lets a first reconcile publish every proxy, then
counts (`bench/cost_world.py` says what a node is and what is counted):
- one reconcile pass as the schedule runs it when nothing changed (its change markers read,
  nothing repaired; `World.quiet` puts the seeding behind the pass's look-back first), and
  the sweep that re-reads everything (every `MESHPLANE_RECONCILE_SWEEP_SECONDS`);
- one endpoint change: a new Cloud Map instance of node 3, its CloudTrail event through
  `cloudmap_events`, and the recompute of the stream records it wrote;
- one route change with 10 and with min(1,000, N) dependents: UpdateRoute's write, then
  the recompute.
A change that rebuilds more proxies than the template's `ShardThreshold` (the route change
with 1,000 dependents, a sweep of 1,000 nodes or more) goes to the shard queue as deployed,
and the harness plays the shard function's event source: each shard is one counted
invocation of `recompute_shard` (`World.shards`).
The idle hour is the template's schedule over the two measured passes plus Lambda's SQS
pollers; `bench/cost_model.py` holds the prices and the template's facts, and
`bench/cost_bill.py` the arithmetic, Lambda's GB-seconds included: they are priced from
each invocation's duration projected for AWS (its measured CPU time plus its calls at
published latencies, `cost_bill.projected_seconds`), with the wall time measured against
the emulator kept beside it.

Only the scenarios are counted: the published state they start from is seeded by the
pipeline's own code with batched writes (`World.publish`), and the counted sweep finding
nothing to publish checks it.  `LARGE_SIZES` (10,000 nodes) run in the full profile only, every
scenario as at the smaller sizes: the emulator answers them in the time a bench run has because
of its local corrections (`meshplane.local.motoserver`: DynamoDB answers written without walking
each attribute value, DiscoverInstances by service name, SQS sends and EventBridge deliveries
that do not grow with the queue), and the harness's uncounted seeding runs on threads.
"""

from __future__ import annotations

import sys

import cost_bill as bill
import cost_model as m
from common import Profile, Suite, require
from cost_world import Scenario, World, emulator
from targets import COST_SIZES, ENDPOINT_REQUESTS_PER_PROXY, IDLE_MONTH_USD

WRITES = {f"dynamodb:{op}" for op in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")}
ENDPOINT_NODE = 3  # provides its own service (not behind a router), so its callers are its dependents
LARGE_SIZES = (10_000,)  # measured in the full profile only, beside COST_SIZES


def _dependents(world: World, node: str) -> int:
    """Proxies whose EDS carries `node`'s endpoints, from the graph: what an endpoint change must republish."""
    from meshplane.pipeline.ports import ModuleGraph

    graph = ModuleGraph()
    return sum(1 for proxy in graph.proxies(world.state) if node in graph.endpoint_dependencies(world.state, proxy))


def _writes(scenario: Scenario) -> dict[str, int]:
    return {call: n for call, n in scenario.tally.calls.items() if call in WRITES and n}


def _bookkeeping(scenario: Scenario) -> dict[str, int]:
    """The writes a sweep that publishes nothing makes: the reconcile's mark, and each shard's idempotency record
    (written, then completed)."""
    shards = sum(1 for i in scenario.invocations if i.function == "recompute_shard")
    return {"dynamodb:PutItem": 1 + shards, **({"dynamodb:UpdateItem": shards} if shards else {})}


def _size(nodes: int, suite: Suite) -> None:
    import meshgen

    with emulator() as url:
        world = World(url, nodes)
        print(f"   N={nodes:,}: seeding", file=sys.stderr, flush=True)
        world.seed()
        proxies = world.publish()
        print(f"   N={nodes:,}: published state seeded, {proxies:,} proxies", file=sys.stderr, flush=True)
        quiet = world.reconcile("one reconcile pass")
        sweep = world.reconcile("one reconcile sweep", sweep=True)
        if sweep.published or _writes(sweep) != _bookkeeping(sweep):
            raise RuntimeError(f"the sweep after seeding republished {sweep.published} proxies and wrote "
                               f"{_writes(sweep)}: the seeded state is not what the pipeline writes")
        rows = [bill.row(nodes, quiet, None), bill.row(nodes, sweep, None)]
        endpoint = world.endpoint_change(ENDPOINT_NODE)
        dependents = _dependents(world, meshgen.node_name(ENDPOINT_NODE))
        rows.append(bill.row(nodes, endpoint, dependents))
        for router in ("hot10", "hot1000"):
            change = world.route_change(router)
            rows.append(bill.row(nodes, change, min(nodes, 10 if router == "hot10" else 1000)))
        print(f"   N={nodes:,}: scenarios done", file=sys.stderr, flush=True)
    suite.tables.setdefault("scenarios", []).extend(rows)
    hour = bill.idle_hour(rows[0], rows[1], m.template_facts().sweep_seconds)
    month = bill.month_lines(hour)
    idle = sum(month.values())
    suite.tables.setdefault("idle month by line (USD, without ADS)", []).append(
        {"nodes": nodes, **{k: round(v, 4) for k, v in month.items()}, "total": round(idle, 4)})
    label = f"N={nodes:,}"
    suite.add(f"{label}: idle month without ADS", idle, "USD/month",
              target=IDLE_MONTH_USD if nodes == 1000 else None,
              note=f"{m.template_facts().reconcile_per_hour:g} reconcile passes an hour, a sweep every "
                   f"{m.template_facts().sweep_seconds:g} s, Lambda's SQS pollers")
    per_proxy = rows[2]["per_affected_proxy"]
    suite.add(f"{label}: endpoint change, billed requests per affected proxy", float(per_proxy or 0), "requests",
              target=ENDPOINT_REQUESTS_PER_PROXY,
              note=f"{rows[2]['billed_requests']:.0f} requests, {dependents} dependents, "
                   f"{endpoint.published} published")
    suite.add(f"{label}: endpoint change, billed request units per affected proxy",
              float(rows[2]["units_per_affected_proxy"] or 0), "requests",
              note="DynamoDB counted by the read and write units it bills rather than by calls")
    for row in rows[2:]:
        suite.add(f"{label}: {row['scenario']}, USD per 1,000", row["usd"] * 1000, "USD per 1,000")
    suite.add(f"{label}: one reconcile pass, billed requests", rows[0]["billed_requests"], "requests")


def _standing(suite: Suite) -> None:
    ads = m.standing_ads_month()
    facts = m.template_facts()
    lines = [{"line": k, "usd": round(v, 2)} for k, v in ads.items()]
    suite.tables["ADS service standing month (USD)"] = [*lines, {"line": "total", "usd": round(sum(ads.values()), 2)}]
    suite.add("ADS service standing month", sum(ads.values()), "USD/month",
              note=f"{facts.ads_tasks} Fargate tasks of {facts.ads_vcpu:g} vCPU / {facts.ads_memory_gb:g} GB, "
                   f"{facts.ads_load_balancers} NLB, long polls; traffic-dependent NLCU and transfer left out")
    polls = m.agent_polls_per_proxy_month()
    suite.add("file-mode agent, per proxy month", m.usd("s3_get", polls), "USD/month",
              note=f"{polls:,.0f} pointer GETs a month at the agent's default interval (a 304 is billed as a GET)")
    suite.tables["prices"] = [{"price": k, "usd": p.usd, "per": p.per, "source": p.source}
                              for k, p in m.PRICES.items()]
    suite.tables["template facts"] = [{
        "reconcile passes an hour": facts.reconcile_per_hour,
        "sweep seconds": facts.sweep_seconds,
        "SQS-polled functions": ", ".join(facts.sqs_polled_functions),
        "memory MB": ", ".join(f"{k} {v}" for k, v in sorted(facts.memory_mb.items())),
        "prices checked": m.PRICES_CHECKED, "region": m.REGION}]


def run(profile: Profile) -> Suite:
    require("meshplane.pipeline.runtime", "Pipeline")
    suite = Suite("cost")
    sizes: tuple[int, ...] = profile.pick((*COST_SIZES, *LARGE_SIZES), (100,), (12,))
    for nodes in sizes:
        _size(nodes, suite)
    _standing(suite)
    return suite


def main(argv: list[str]) -> int:
    """`python bench/suite_cost.py N...`: the scenarios at the given sizes, printed as JSON (one-off runs)."""
    import json

    suite = Suite("cost")
    for arg in argv:
        _size(int(arg), suite)
    _standing(suite)
    print(json.dumps(suite.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
