"""The README's bill tables ("What it costs"), generated from the cost suite's latest current run.

`bench/report.py` rewrites the README's `<!-- generated: cost -->` block with this, like
RESULTS.md's blocks, and `--check` fails when it no longer matches the recorded run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cost_bill as bill
from history import History, when

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- generated: cost -->\n)(.*?)(<!-- end generated -->)", re.S)
LINES = (("lambda_requests", "Lambda requests"), ("lambda_gb_seconds", "Lambda GB-s"),
         ("dynamodb_rru", "DynamoDB reads"), ("dynamodb_wru", "DynamoDB writes"),
         ("cloudmap_discovery", "Cloud Map discovery"), ("sqs_requests", "SQS (pollers, shards)"))


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def _metric(suite: dict[str, Any], name: str) -> float:
    return float(next(m["value"] for m in suite["metrics"] if m["name"] == name))


def _bill(suite: dict[str, Any]) -> list[str]:
    idle = suite["tables"]["idle month by line (USD, without ADS)"]
    ads = _metric(suite, "ADS service standing month")
    agent = _metric(suite, "file-mode agent, per proxy month")
    head = "| nodes | idle month, no ADS | " + " | ".join(label for _, label in LINES) + \
        " | + ADS service | or + file-mode agents |"
    lines = [head, "|" + "---|" * (len(LINES) + 4)]
    for row in idle:
        cells = [_usd(row[key]) for key, _ in LINES]
        lines.append(f"| {row['nodes']:,} | **{_usd(row['total'])}** | " + " | ".join(cells)
                     + f" | {_usd(ads)} | {_usd(agent * row['nodes'])} |")
    return lines


def _verdicts(suite: dict[str, Any]) -> list[str]:
    """The goals against the run, and what the idle month is made of (largest lines first)."""
    from targets import ENDPOINT_REQUESTS_PER_PROXY, IDLE_MONTH_USD

    names = dict(LINES)
    lines = []
    for row in suite["tables"]["idle month by line (USD, without ADS)"]:
        parts = sorted(((v, names[k]) for k, v in row.items() if k in names and v > 0), reverse=True)
        share = ", ".join(f"{label} {value / row['total']:.0%}" for value, label in parts[:3])
        lines.append(f"- {row['nodes']:,} nodes, idle month {_usd(row['total'])}: {share}.")
    for row in suite["tables"]["scenarios"]:
        if row["scenario"] == "one reconcile pass" and row["cloudmap_discovery"]:
            lines.append(f"- At {row['nodes']:,} nodes the quiet pass made discovery calls: something it was shown "
                         "as changed was re-read, so this month is an upper bound.")
    idle = _metric(suite, "N=1,000: idle month without ADS")
    verdict = "met" if idle <= IDLE_MONTH_USD else "missed"
    lines.append(f"- Goal, an idle 1,000-node mesh under ${IDLE_MONTH_USD:g} a month without ADS: {_usd(idle)}, "
                 f"**{verdict}**.")
    for metric in suite["metrics"]:
        if metric["name"].endswith("endpoint change, billed requests per affected proxy"):
            met = "met" if metric["value"] <= ENDPOINT_REQUESTS_PER_PROXY else "missed"
            lines.append(f"- Goal, an endpoint change at most {ENDPOINT_REQUESTS_PER_PROXY:g} billed requests per "
                         f"affected proxy, {metric['name'].split(':')[0].removeprefix('N=')} nodes: "
                         f"{metric['value']:.1f} ({metric['note']}), **{met}**.")
    return lines


def _durations(suite: dict[str, Any]) -> list[str]:
    """What the passes' Lambda time is priced at (projected for AWS) beside what it took here (runs that predate
    the projection price the wall time and show nothing)."""
    lines = []
    for row in suite["tables"]["scenarios"]:
        if "lambda_projected_seconds" in row and row["scenario"] in ("one reconcile pass", "one reconcile sweep"):
            lines.append(f"- {row['nodes']:,} nodes, {row['scenario']}: Lambda time priced at "
                         f"{row['lambda_projected_seconds']:,.2f} s (projected for AWS: its CPU time here, "
                         f"{row['lambda_cpu_seconds']:,.2f} s, at the function's vCPU share plus its calls at "
                         f"published latencies); wall time here {row['lambda_seconds']:,.2f} s.")
    return lines


def sweep_seconds(suite: dict[str, Any]) -> float:
    """The sweep interval the run measured (runs that predate the fact: the template's)."""
    import cost_model

    facts = suite["tables"]["template facts"][0]
    return float(facts.get("sweep seconds") or cost_model.template_facts().sweep_seconds)


SCHEDULES = (("rate(1 minute)", 60.0, 900.0), ("rate(1 minute)", 60.0, 3600.0), ("rate(1 minute)", 60.0, 21600.0),
             ("rate(5 minutes)", 12.0, 3600.0))


def _schedules(suite: dict[str, Any]) -> list[str]:
    """The idle month at other `ReconcileSchedule` rates and `ReconcileSweepSeconds`, from the same measured passes
    (a pass costs the same whatever the rate)."""
    head = " | ".join(f"{rate}, sweep every {_interval(sweep)}" for rate, _, sweep in SCHEDULES)
    lines = [f"| nodes | {head} |", "|---|" + "---|" * len(SCHEDULES)]
    by_nodes: dict[int, list[dict[str, Any]]] = {}
    for row in suite["tables"]["scenarios"]:
        by_nodes.setdefault(row["nodes"], []).append(row)
    for nodes, rows in by_nodes.items():
        passes = {r["scenario"]: r for r in rows}
        if "one reconcile sweep" not in passes:  # a size measured by its quiet pass alone
            continue
        quiet, sweep = passes["one reconcile pass"], passes["one reconcile sweep"]
        cells = [_usd(sum(bill.month_lines(bill.idle_hour(quiet, sweep, every, per_hour)).values()))
                 for _, per_hour, every in SCHEDULES]
        lines.append(f"| {nodes:,} | " + " | ".join(cells) + " |")
    return lines


def _interval(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def _changes(suite: dict[str, Any]) -> list[str]:
    lines = ["| nodes | scenario | Lambda invocations | billed requests (per affected proxy) | with DynamoDB units "
             "| DynamoDB RRU / WRU | S3 PUT / GET | events | USD per 1,000 |", "|---|---|---|---|---|---|---|---|---|"]
    for row in suite["tables"]["scenarios"]:
        affected = row["per_affected_proxy"] != ""
        per = f" ({row['per_affected_proxy']:.1f} per proxy, {row['affected']:,})" if affected else ""
        units = f" ({row['units_per_affected_proxy']:.1f} per proxy, {row['affected']:,})" if affected else ""
        lines.append(
            f"| {row['nodes']:,} | {row['scenario']} | {row['invocations']} | {row['billed_requests']:,.0f}{per} "
            f"| {row['request_units']:,.0f}{units} | {row['dynamodb_rru']:,.1f} / {row['dynamodb_wru']:,.0f} "
            f"| {row['s3_put_list']:,.0f} / {row['s3_get']:,.0f} | {row['eventbridge_events']:,.0f} "
            f"| {_usd(row['usd'] * 1000)} |")
    return lines


def block(history: History) -> str:
    run = history.current("cost")[-1]
    suite = run.suite("cost")
    assert suite is not None  # current() keeps only runs where the suite finished
    facts = suite["tables"]["template facts"][0]
    lines = [
        f"Measured by `make bench` (`bench/suite_cost.py`) on {when(run)}, tree `{run.document['tree']}`; prices "
        f"{facts['region']}, on-demand, without free tiers, as checked on {facts['prices checked']} "
        "(`bench/cost_model.py` names the page of each).",
        "",
        "**A month with nothing changing** (the template's schedule: "
        f"{facts['reconcile passes an hour']:g} reconcile passes an hour, one of them a sweep every "
        f"{_interval(sweep_seconds(suite))}, Lambda's pollers on {facts['SQS-polled functions']}):",
        "",
        *_bill(suite),
        "",
        *_verdicts(suite),
        *_durations(suite),
        "",
        "**The same month with another schedule** (`ReconcileSchedule` and `ReconcileSweepSeconds`; computed "
        "from the two measured passes, since a pass costs the same whatever the rate). A registration CloudTrail "
        "does not deliver waits up to one pass; drift no marker shows waits up to one sweep:",
        "",
        *_schedules(suite),
        "",
        "**Each scenario, counted.** Billed requests count a DynamoDB call as one; the next column counts "
        "the read and write units it bills instead (a Query page of the whole mesh is hundreds). In brackets: "
        "per proxy the change republishes, and how many it republishes.",
        "",
        *_changes(suite),
    ]
    return "\n".join(lines) + "\n"


def spliced(text: str, history: History) -> str:
    """The README with its cost block rewritten; a README without the block is an error."""
    if not BLOCK.search(text):
        raise ValueError("README.md has no <!-- generated: cost --> block")
    return BLOCK.sub(lambda m: m.group(1) + block(history) + m.group(3), text, count=1)
