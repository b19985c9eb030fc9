"""One chart per suite, drawn from the suite's current runs (`bench/plots/<suite>.svg`).

The charts show what the table cannot: every run, not just the median, and the
numbers around the targets (the scaling curve, each handler, each hop of a
convergence) that explain them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import targets as t
from history import History, runs_text, span
from summary import TIMES, Series, series, show
from svgchart import ChartRow, Panel, render
from targets import Reader, Reading, Target

PLOTS = Path(__file__).resolve().parent / "plots"
LONG_LABEL = 60


@dataclass(frozen=True)
class Spec:
    """A row to draw: a reader, and the target it is held to (if any)."""

    label: str
    read: Reader
    unit: str
    target: Target | None = None


def _row(history: History, suite: str, spec: Spec) -> ChartRow:
    found: Series = series(history, suite, spec.read)
    met = None if spec.target is None else spec.target.met(Reading(found.median))
    threshold = None if spec.target is None else spec.target.target
    value = show(found.median, spec.unit)
    return ChartRow(spec.label.replace("`", ""), found.values, found.median, value, threshold, met)


def _targets(suite: str, label: Callable[[Target], str] = lambda x: x.label) -> list[Spec]:
    return [Spec(label(x), x.read, x.unit, x) for x in t.TARGETS if x.suite == suite and x.condition == ""]


def _short(label: str) -> str:
    """A hop's name without its parenthesised detail when it would crowd the chart."""
    return label if len(label) <= LONG_LABEL else label.rsplit(" (", 1)[0]


def _translation(history: History) -> list[tuple[str, list[Spec]]]:
    meshes = [Spec(f"whole mesh, {n:,} virtual nodes", t.metric(f"whole mesh, {n:,} nodes"), "ms")
              for n in (100, 1000, 5000)]
    return [("One proxy with N egress clusters: ms, lower is better", _targets("translation")),
            ("Every proxy of a mesh, one core: ms (the scaling curve)", meshes)]


def _peer(history: History) -> list[tuple[str, list[Spec]]]:
    servers = []  # (label, server as the suite names its time)
    for n in t.PEER_SIZES:
        size = f"N={n:,}"
        servers += [(f"sovereign REST, {setting}, {size}", f"{size}: ", f"sovereign REST, {setting}")
                    for setting, _which in t.PEER_SOVEREIGN]
        servers += [(f"meshplane, {how}, {size}", f"{size}: ", f"meshplane ADS, {name}")
                    for how, name in (("node connected", "node already connected"),
                                      ("first Envoy, warm", "first Envoy of the node"),
                                      ("cold load", "cold load (--cache-nodes 0)"))]
    times = [Spec(label, t.metric(f"{size}first complete CDS+EDS, {who}"), "ms") for label, size, who in servers]
    cpu = [Spec(label, t.metric(f"{size}server CPU for it, {who}"), "ms") for label, size, who in servers]
    return [(f"Speed-up over sovereign, same run: {TIMES}, higher is better", _targets("peer")),
            ("Time to the first complete CDS+EDS: ms", times),
            ("Server CPU for it, every process and thread of that server: ms", cpu)]


def _incremental(history: History) -> list[tuple[str, list[Spec]]]:
    specs = _targets("incremental")
    parts = [Spec("of which planning", t.metric("  of which plan (dependency check of every proxy)"), "ms"),
             Spec("of which EDS and snapshot", t.metric("  of which EDS render + snapshot of affected proxies"), "ms")]
    return [("One endpoint change in a 1,000-node mesh: compute, ms", [s for s in specs if s.unit == "ms"] + parts),
            ("Bytes per affected proxy", [s for s in specs if s.unit == "B"])]


def _hops(history: History, table: str) -> list[Spec]:
    """The p50 of every hop of `table` that each current run placed above zero: a hop whose ends come
    from two processes' clocks can come out at or below zero, which a logarithmic axis cannot show."""
    runs = [run.suite("convergence") or {} for run in history.current("convergence")]
    p50s = [{row["hop"]: row["p50"] for title, rows in run.get("tables", {}).items() if title.startswith(table)
             for row in rows} for run in runs]
    kept = [hop for hop in p50s[-1] if all(found.get(hop, 0) > 0 for found in p50s)]
    return [Spec(_short(hop), t.table_column(table, "p50", "hop", hop), "ms") for hop in kept]


def _convergence(history: History) -> list[tuple[str, list[Spec]]]:
    return [("A change → a real Envoy routing with it (a Cloud Map event; update_route): ms", _targets("convergence")),
            ("Each hop of the Cloud Map path, p50 over the 100 changes: ms", _hops(history, "per hop")),
            ("Each hop of a route change, p50 over the 40 changes: ms", _hops(history, "route change per hop"))]


def _fanout(history: History) -> list[tuple[str, list[Spec]]]:
    specs = _targets("fanout")
    return [("One change pushed to every stream: ms to the last stream", [s for s in specs if s.unit == "ms"]),
            ("ADS server memory per stream: MB", [s for s in specs if s.unit == "MB"])]


def _coldstart(history: History) -> list[tuple[str, list[Spec]]]:
    init, first, with_boto3 = (t.by_label(label) for label in (
        "handler import + init, slowest handler",
        "import + first invocation, slowest handler, boto3 import excluded",
        "import + first invocation, slowest handler, with boto3's import"))
    table = t.FIRST_CALL_TABLE
    return [
        ("Handler import + init (Lambda INIT): ms", [
            Spec(fn, t.metric(f"{fn}: import+init (median of 10)"), "ms", init) for fn in t.FUNCTIONS]),
        ("Import + first invocation, in-process moto, boto3's import excluded: ms", [
            Spec(fn, t.metric(f"{fn}: import + first invocation, moto import excluded (median of 10)"), "ms", first)
            for fn in t.FUNCTIONS]),
        ("The same with a fresh `import boto3` added: ms", [
            Spec(fn, t.table_column(table, "+ boto3 import ms", "function", fn), "ms", with_boto3)
            for fn in t.FUNCTIONS]),
        ("Deployment package, our code + layer: MB", [s for s in _targets("coldstart") if s.unit == "MB"]),
    ]


def _cost(history: History) -> list[tuple[str, list[Spec]]]:
    idle, *endpoint = (x for x in t.TARGETS if x.suite == "cost")
    months = [Spec(f"{n:,} nodes", t.metric(f"N={n:,}: idle month without ADS"), "USD/month",
                   idle if n == 1000 else None) for n in t.COST_SIZES]
    changes = []
    for n in t.COST_SIZES:
        hot = min(n, 1000)
        changes += [Spec(f"{what}, {n:,} nodes", t.metric(f"N={n:,}: {what}, USD per 1,000"), "USD per 1,000")
                    for what in ("one endpoint change", "one route change, 10 dependents",
                                 f"one route change, {hot:,} dependents")]
    return [("An idle month without ADS: USD", months),
            ("One endpoint change: billed requests per affected proxy", [
                Spec(f"{n:,} nodes", x.read, x.unit, x) for n, x in zip(t.COST_SIZES, endpoint, strict=True)]),
            ("Changes: USD per 1,000 changes", changes)]


def _hot(history: History) -> list[tuple[str, list[Spec]]]:
    sizes = [f"N={n:,}" for n in t.HOT_SIZES]
    local, aws = t.by_label("10,000 dependents published, locally"), t.by_label("10,000 dependents published, AWS")
    published = [Spec(f"last pointer, {size}", t.metric(f"{size}: change → last pointer published"), "ms",
                      local if size == "N=10,000" else None) for size in sizes]
    streams = [Spec(f"last of 1,000 streams, {size}", t.metric(f"{size}: change → last of 1,000 ADS streams has it"),
                    "ms") for size in sizes]
    paper = [Spec(f"{how}, {size}", t.metric(f"{size}: AWS projection, {how}"), "ms",
                  aws if size == "N=10,000" and how == "all shards at once" else None)
             for size in sizes for how in ("all shards at once", "SQS standard scaling")]
    return [("A hot route change, locally (2 cores): ms from the change", published + streams),
            ("The same in AWS, on paper from the measured costs: ms", paper)]


def _status(history: History) -> list[tuple[str, list[Spec]]]:
    rate, nack = (x for x in t.TARGETS if x.suite == "status")
    return [("Status items written, 1,000 Envoys churning: items a second", [
                Spec("mean of the steady state", rate.read, rate.unit, rate),
                Spec("busiest second", t.metric("items written in the busiest second"), "items/s")]),
            ("A NACK into the table: ms", [Spec("p99", nack.read, nack.unit, nack)])]


def _recorded_target(name: str) -> Reader:
    """The target a run recorded beside the metric `name` (one that each run computes for itself)."""

    def read(suite: t.SuiteDoc) -> Reading:
        found = next((m for m in suite.get("metrics", []) if m["name"] == name), None)
        if found is None or found.get("target") is None:
            raise t.MissingReading(f"{suite.get('name')}: no target recorded for {name!r}")
        return Reading(float(found["target"]))

    return read


def _rollout(history: History) -> list[tuple[str, list[Spec]]]:
    return [("A failing canary's rollback under steady traffic: ms from the failure", [
                Spec("traffic back on stable, p50", t.metric(t.ROLLBACK_P50), "ms"),
                Spec("its target: one step interval + propagation p50", _recorded_target(t.ROLLBACK_P50), "ms"),
                Spec("traffic back on stable, slowest repeat",
                     t.metric("failure injected → traffic back on stable, max"), "ms")]),
            ("Its two parts, p50: ms", [
                Spec("failure → ROLLED_BACK decision", t.metric("failure injected → ROLLED_BACK decision, p50"), "ms"),
                Spec("decision → last request on the canary", t.metric("decision → last request on the canary, p50"),
                     "ms")])]


Panels = Callable[[History], list[tuple[str, list[Spec]]]]
SUITES: dict[str, tuple[str, Panels, str]] = {
    "translation": ("Translation speed", _translation,
                    "Top: the two cluster targets, on one proxy. Bottom: the scaling curve, every proxy of a "
                    "synthetic mesh of 100, 1,000 and 5,000 virtual nodes translated in one process."),
    "peer": ("Side by side with sovereign", _peer,
             "Top: sovereign's time over meshplane's (and meshplane's throughput over sovereign's), every server up "
             "in the same run, for each way an Envoy can meet meshplane's cache, against sovereign with one worker "
             "and with its default workers. Middle: the times behind them. Bottom: the server CPU each of those "
             "first responses took, which a loaded machine does not inflate."),
    "incremental": ("Incremental work", _incremental,
                    "One endpoint added to one node of a 1,000-node mesh: planning from the dependency index, EDS "
                    "for the affected proxies, and the bytes each of them receives."),
    "convergence": ("Convergence with real Envoy", _convergence,
                    "Top: end to end over 100 Cloud Map changes and 40 route weight changes by update_route. "
                    "Below: each path hop by hop, from the local runtime's invocation trace and the functions' logs "
                    "(hops overlap a little, so they do not add up exactly)."),
    "fanout": ("ADS fan-out", _fanout,
               "One endpoint change published to every proxy while 1,000 or 2,000 simulated Envoys hold SotW "
               "streams: the time until the last stream holds it, and the server's memory per stream."),
    "coldstart": ("Lambda cold start and package size", _coldstart,
                  "Per handler: Lambda INIT (the import), INIT plus the first invocation against in-process moto, "
                  "the same with boto3's import added; then the deployment package."),
    "cost": ("The AWS bill, counted", _cost,
             "Every AWS call of the pipeline counted against moto in server mode with a botocore event hook, "
             "priced at us-east-1 list prices: an idle month (the template's schedule), and what one endpoint "
             "change and one route change cost; the README's \"What it costs\" has the whole bill."),
    "hot": ("Hot changes in shards", _hot,
            "The route behind a service every node calls gains a canary. Top: measured on this machine, the "
            "pipeline's shards on one worker process per core (each kept to its core), until the last pointer is "
            "written and until the last of 1,000 simulated Envoys holds the change. Bottom: the AWS projection "
            "from the measured CPU, "
            "boto3's measured CPU per store call and the store calls at published latencies (bench/suite_hot.py "
            "lists them)."),
    "status": ("Proxy status writes", _status,
               "One ADS server's status path (coalescer and store edge, DynamoDB in moto) while 1,000 Envoys churn "
               "for a minute: items written per second against the bound, and how long a NACK waits."),
    "rollout": ("Canary rollback", _rollout,
                "The demo's stack (local up, real Envoys, steady traffic through gateway → front → color): a rollout "
                "of color from blue to green (20 %, 50 %; 2 s steps; at most 5 % 5xx) whose green apps answer 500 "
                "from its second step. Top: the failure until the last request green served, against one step "
                "interval plus that run's propagation. Bottom: detection and propagation."),
}


def chart(history: History, suite: str) -> str:
    """The suite's chart as SVG text."""
    title, panels_of, _ = SUITES[suite]
    runs = history.current(suite)
    subtitle = f"{runs_text(len(runs))} at full size, {span(runs)} (bench/results/)"
    panels = [Panel(name, [_row(history, suite, spec) for spec in specs]) for name, specs in panels_of(history)]
    return render(title, subtitle, panels)

