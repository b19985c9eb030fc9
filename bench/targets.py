"""The targets the benchmarks are held to, and how each is read from a recorded run.

One place for every threshold: the suites stamp them on their metrics as they run,
and the report's table rows (`TARGETS`) read the recorded runs against them.  A row
reads one number per run from that run's suite document; a run that lacks it is an
error, never a silently shorter table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

SuiteDoc = dict[str, Any]
Better = Literal["lower", "higher"]

TRANSLATION_MS = {1000: 30.0, 10000: 300.0}  # one proxy with N egress clusters, first of its state
TRANSLATION_MESH_MS = {5000: 1000.0}  # every proxy of a mesh of N virtual nodes, one core
PEER_RATIO = 10.0
INCREMENTAL_COMPUTE_MS = 5.0
INCREMENTAL_BYTES = 5 * 1024
CONVERGENCE_P50_MS = 200.0
CONVERGENCE_P99_MS = 500.0
ROUTE_CHANGE_P50_MS = 200.0  # update_route → a real Envoy routing with it, locally
ROUTE_CHANGE_P99_MS = 500.0
FANOUT_PUSH_MS = 2000.0
FANOUT_MB_PER_STREAM = 0.5
COLDSTART_MS = 300.0
PACKAGE_MB = 10.0
IDLE_MONTH_USD = 5.0  # an idle 1,000-node mesh, a month, without the ADS service
ENDPOINT_REQUESTS_PER_PROXY = 10.0  # billed requests of one endpoint change, per affected proxy
COST_SIZES = (100, 1000)
FUNCTIONS = ("api", "cloudmap_events", "ecs_events", "recompute", "reconcile")
PEER_SIZES = (1000, 10000)
STATUS_WRITES_PER_S = 25.0  # proxy status items one ADS server writes a second (delivery.status.coalescer.WriteBounds)
STATUS_NACK_MS = 2000.0  # a NACK in the table within seconds, behind any backlog
HOT_LOCAL_S = 10.0  # 10,000 dependents of a hot change published, locally on 2 cores
HOT_AWS_S = 2.0  # the same on paper in AWS, with the template's shard concurrency
HOT_SIZES = (1000, 5000, 10000)


class MissingReading(LookupError):
    """A run that should hold a number does not."""


@dataclass(frozen=True)
class Reading:
    """One run's number, with the target the suite recorded beside it (if it recorded one)."""

    value: float
    recorded_target: float | None = None
    holds: bool | None = None  # for a target that is a condition rather than a threshold


Reader = Callable[[SuiteDoc], Reading]


@dataclass(frozen=True)
class Target:
    """One row of the report's table: a number, its target, and what it means."""

    suite: str
    label: str
    read: Reader
    target: float | None
    unit: str  # as the suites record it: "ms", "x" (a ratio), "B", "MB", "proxies"
    better: Better = "lower"
    meaning: str = ""
    condition: str = ""  # shown instead of the threshold when the target is a condition

    def met(self, reading: Reading) -> bool:
        if reading.holds is not None or self.target is None:
            return bool(reading.holds)
        return reading.value <= self.target if self.better == "lower" else reading.value >= self.target


def _metrics(suite: SuiteDoc) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in suite.get("metrics", [])}


def metric(name: str) -> Reader:
    """The metric called `name`."""

    def read(suite: SuiteDoc) -> Reading:
        found = _metrics(suite).get(name)
        if found is None:
            raise MissingReading(f"{suite.get('name')}: no metric {name!r}")
        return Reading(float(found["value"]), found.get("target"))

    return read


def slowest(template: str) -> Reader:
    """The largest of one metric over the five handlers; `template` names it with `{fn}`."""
    readers = [metric(template.format(fn=fn)) for fn in FUNCTIONS]

    def read(suite: SuiteDoc) -> Reading:
        readings = [r(suite) for r in readers]
        return max(readings, key=lambda r: r.value)

    return read


def table_column(table_prefix: str, column: str, key: str, value: str) -> Reader:
    """Column `column` of the row whose `key` is `value`, in the suite table whose title starts with the prefix."""

    def read(suite: SuiteDoc) -> Reading:
        for title, rows in suite.get("tables", {}).items():
            if title.startswith(table_prefix):
                for row in rows:
                    if row.get(key) == value and isinstance(row.get(column), int | float):
                        return Reading(float(row[column]))
        raise MissingReading(f"{suite.get('name')}: no {column!r} for {key}={value!r} in {table_prefix!r}")

    return read


def slowest_column(table_prefix: str, column: str) -> Reader:
    """The largest `column` over the five handlers' rows of a table."""
    readers = [table_column(table_prefix, column, "function", fn) for fn in FUNCTIONS]

    def read(suite: SuiteDoc) -> Reading:
        return max((r(suite) for r in readers), key=lambda r: r.value)

    return read


def within_recorded_target(name: str) -> Reader:
    """The metric `name`, holding when it is within the target its run recorded beside it (a per-run target)."""

    def read(suite: SuiteDoc) -> Reading:
        found = _metrics(suite).get(name)
        if found is None or found.get("target") is None:
            raise MissingReading(f"{suite.get('name')}: no metric {name!r} with a target")
        return Reading(float(found["value"]), holds=float(found["value"]) <= float(found["target"]))

    return read


ROLLBACK_P50 = "failure injected → traffic back on stable, p50"


def only_dependents(suite: SuiteDoc) -> Reading:
    """Proxies recomputed, and whether they were exactly the dependents of the changed node."""
    found = _metrics(suite).get("proxies recomputed")
    if found is None:
        raise MissingReading(f"{suite.get('name')}: no metric 'proxies recomputed'")
    return Reading(float(found["value"]), holds="exactly the dependents: True" in found.get("note", ""))


FIRST_CALL_TABLE = "import + first invocation against in-process moto"


PEER_SOVEREIGN = (("1 worker", "one worker, as meshplane's ADS is one process"),
                  ("default workers", "the workers of its default deployment, 2 per core + 1"))


def _peer_rows() -> list[Target]:
    rows = []
    for n in PEER_SIZES:
        size = f"N={n:,}"
        for setting, which in PEER_SOVEREIGN:
            vs = f"sovereign {setting}"
            rows += [
                Target("peer", f"throughput over {vs}, {size}",
                       metric(f"{size}: throughput speed-up (meshplane / {vs})"), PEER_RATIO, "x", "higher",
                       f"complete CDS+EDS fetches per second by 4 clients, meshplane's ADS over sovereign's REST with "
                       f"{which}"),
                Target("peer", f"first response over {vs}, node already connected, {size}",
                       metric(f"{size}: first-response speed-up, node connected ({vs} / meshplane)"),
                       PEER_RATIO, "x", "higher",
                       f"sovereign's time ({which}) to a complete CDS+EDS over meshplane's, for an Envoy whose node "
                       "another Envoy already holds open"),
                Target("peer", f"first response over {vs}, first Envoy of a node (warm cache), {size}",
                       metric(f"{size}: first-response speed-up, first Envoy of node, warm ({vs} / meshplane)"),
                       PEER_RATIO, "x", "higher",
                       "the same for a node with no open stream, its snapshot preloaded (the default cache)"),
                Target("peer", f"first response over {vs}, cold load (`--cache-nodes 0`), {size}",
                       metric(f"{size}: first-response speed-up, cold load ({vs} / meshplane)"),
                       PEER_RATIO, "x", "higher",
                       "the same with the cache off: the snapshot is read from the stored form on connect"),
            ]
    return rows


TARGETS: tuple[Target, ...] = (
    Target("translation", "one proxy, 1,000 egress clusters",
           metric("one proxy with 1,000 egress clusters (+EDS, LDS, RDS)"), TRANSLATION_MS[1000], "ms",
           meaning="a complete CDS+EDS+LDS+RDS snapshot for one Envoy with 1,000 upstream services, the first "
                   "proxy translated from its mesh state (nothing shared yet), one core"),
    Target("translation", "one proxy, 10,000 egress clusters",
           metric("one proxy with 10,000 egress clusters (+EDS, LDS, RDS)"), TRANSLATION_MS[10000], "ms",
           meaning="the same with 10,000 upstream services"),
    Target("translation", "whole mesh, 5,000 nodes", metric("whole mesh, 5,000 nodes"), TRANSLATION_MESH_MS[5000],
           "ms", meaning="every proxy of a synthetic 5,000-node mesh (5 backends each), one core, in one process"),
    *_peer_rows(),
    Target("incremental", "proxies recomputed for one endpoint change", only_dependents, None, "proxies",
           meaning="in a 1,000-node mesh, the proxies rebuilt are exactly those that depend on the changed node",
           condition="only the dependents"),
    Target("incremental", "compute for one endpoint change",
           metric("compute: plan + EDS for affected proxies"), INCREMENTAL_COMPUTE_MS, "ms",
           meaning="planning from the dependency index plus rendering EDS for the affected proxies, stores excluded"),
    Target("incremental", "bytes per affected proxy, SotW",
           metric("bytes per affected proxy, SotW (whole EDS type)"), INCREMENTAL_BYTES, "B",
           meaning="what one affected Envoy receives over SotW: its whole EDS type (largest proxy)"),
    Target("incremental", "bytes per affected proxy, Delta",
           metric("bytes per affected proxy, Delta (changed assignments only)"), INCREMENTAL_BYTES, "B",
           meaning="the same over Delta xDS: the changed assignment only"),
    Target("convergence", "event accepted → Envoy routing, p50",
           metric("event accepted → Envoy routing, p50"), CONVERGENCE_P50_MS, "ms",
           meaning="from a Cloud Map event accepted by the local runtime to a real Envoy routing with it, 100 changes"),
    Target("convergence", "event accepted → Envoy routing, p99",
           metric("event accepted → Envoy routing, p99"), CONVERGENCE_P99_MS, "ms",
           meaning="the same, 99th percentile (the slowest of the 100)"),
    Target("convergence", "update_route → Envoy routing with it, p50",
           metric("update_route → Envoy routing with it, p50"), ROUTE_CHANGE_P50_MS, "ms",
           meaning="from the UpdateRoute call (the local API) to front's real Envoy holding the new weights, "
                   "40 weight changes"),
    Target("convergence", "update_route → Envoy routing with it, p99",
           metric("update_route → Envoy routing with it, p99"), ROUTE_CHANGE_P99_MS, "ms",
           meaning="the same, 99th percentile"),
    Target("fanout", "push to the last of 1,000 streams", metric("1,000 streams: push to the last stream"),
           FANOUT_PUSH_MS, "ms",
           meaning="one endpoint change published to 100 proxies until all 1,000 streams hold it"),
    Target("fanout", "push to the last of 2,000 streams", metric("2,000 streams: push to the last stream"),
           FANOUT_PUSH_MS, "ms", meaning="the same with 200 proxies and 2,000 streams"),
    Target("fanout", "server memory per stream, 1,000 streams", metric("1,000 streams: server memory per stream"),
           FANOUT_MB_PER_STREAM, "MB", meaning="the ADS server's resident memory with every stream up, per stream"),
    Target("fanout", "server memory per stream, 2,000 streams", metric("2,000 streams: server memory per stream"),
           FANOUT_MB_PER_STREAM, "MB", meaning="the same at 2,000 streams"),
    Target("coldstart", "handler import + init, slowest handler",
           slowest("{fn}: import+init (median of 10)"), COLDSTART_MS, "ms",
           meaning="what Lambda's INIT spends importing a handler module, fresh process, median of 10"),
    Target("coldstart", "import + first invocation, slowest handler, boto3 import excluded",
           slowest("{fn}: import + first invocation, moto import excluded (median of 10)"), COLDSTART_MS, "ms",
           meaning="INIT plus the first call against in-process moto, which has already imported boto3"),
    Target("coldstart", "import + first invocation, slowest handler, with boto3's import",
           slowest_column(FIRST_CALL_TABLE, "+ boto3 import ms"), COLDSTART_MS, "ms",
           meaning="the same plus a fresh `import boto3`: what a real cold start of that handler pays"),
    Target("coldstart", "package, our code + layer, zipped", metric("package: our code + layer, zipped"),
           PACKAGE_MB, "MB", meaning="the function folders and the layer as `sam build` makes them, boto3 excluded"),
    Target("coldstart", "package, our code + layer, unzipped", metric("package: our code + layer, unzipped"),
           PACKAGE_MB, "MB", meaning="the same, unzipped"),
    Target("cost", "idle 1,000-node mesh, a month without ADS", metric("N=1,000: idle month without ADS"),
           IDLE_MONTH_USD, "USD/month",
           meaning="the template's schedule with nothing changing (a reconcile a minute, Lambda's SQS pollers), "
                   "every call counted against the emulator, us-east-1 prices"),
    *(Target("cost", f"endpoint change, billed requests per affected proxy, {n:,} nodes",
             metric(f"N={n:,}: endpoint change, billed requests per affected proxy"), ENDPOINT_REQUESTS_PER_PROXY,
             "requests", meaning="one new Cloud Map instance: every billed request of the event handler and the "
                                 "recompute (and EventBridge's SQS delivery) over the proxies republished")
      for n in COST_SIZES),
    Target("hot", "10,000 dependents published, locally", metric("N=10,000: change → last pointer published"),
           HOT_LOCAL_S * 1000, "ms",
           meaning="a route used by all 10,000 nodes changes: planned, cut into shards of 100 and rebuilt by the "
                   "shard code on one worker process per core, each kept to its core, until the last pointer is "
                   "written (stores local)"),
    Target("hot", "10,000 dependents published, AWS", metric("N=10,000: AWS projection, all shards at once"),
           HOT_AWS_S * 1000, "ms",
           meaning="the same on paper: the dispatch and each shard as their measured CPU (less the stand-in "
                   "stores'), boto3's measured CPU per store call with production's conversion of what it returns "
                   "(the dispatch's whole-mesh and whole-index pages included), and their store calls at published "
                   "AWS latencies (a shard's publishing threads sharing theirs), warm containers, the template's "
                   "ShardConcurrency (100) running every shard at once"),
    Target("status", "proxy status items written per second, 1,000 Envoys churning",
           metric("items written per second, steady state"), STATUS_WRITES_PER_S, "items/s",
           meaning="one ADS server's status writes while 1,000 Envoys each take a new config every 2 s on average "
                   "(four ACKs each), 1 % reconnect a second and one NACKs a second: coalesced per Envoy, bounded "
                   "per server"),
    Target("status", "proxy status: NACK reported → in the table, p99", metric("NACK reported → written, p99"),
           STATUS_NACK_MS, "ms", meaning="the same churn: a NACK goes ahead of the backlog of ACK states"),
    Target("rollout", "canary failure injected → traffic back on stable, p50", within_recorded_target(ROLLBACK_P50),
           None, "ms", condition="≤ one step interval + the run's propagation p50, in every run",
           meaning="the demo's stack under steady traffic: a canary answering 500 from its second step (2 s "
                   "steps) until the last request it served, once only the stable target answers; "
                   "propagation is the ROLLED_BACK decision → that last request"),
    Target("rollout", "rollouts rolled back before the failure", metric("rollouts rolled back before the failure"),
           0.0, "count", meaning="of the run's 10 rollouts, those rolled back on their first step, before the failure "
                                 "was injected: a 2 s window short of 10 attempts, with no failed check allowed"),
)


def by_label(label: str) -> Target:
    """The target row called `label`."""
    for target in TARGETS:
        if target.label == label:
            return target
    raise KeyError(label)
