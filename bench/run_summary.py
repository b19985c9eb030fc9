"""One run as markdown: the summary `bench/run.py` prints and `bench/report.py --run FILE` shows."""

from __future__ import annotations

from typing import Any


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _verdict(metric: dict[str, Any]) -> str:
    if metric["met"] is None:
        return ""
    op = "≤" if metric["better"] == "lower" else "≥"
    mark = "met" if metric["met"] else "**MISSED**"
    return f"{op} {_fmt(metric['target'])}: {mark}"


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [_fmt(v) if isinstance(v, float) else str(v) for v in (row.get(c, "") for c in columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(document: dict[str, Any]) -> str:
    m = document["machine"]
    lines = [
        f"Run `{document['command']}` ({document['profile']}), {document['started']}, "
        f"{document.get('seconds', '?')} s.",
        f"Machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, Envoy {m['envoy']}.",
    ]
    if "tree" in document:
        load = document.get("load_average", {})
        lines.append(f"Tree {document['tree']}; load average (1, 5, 15 min) {load.get('start')} at the start, "
                     f"{load.get('end')} at the end.")
    lines.append("")
    for suite in document["suites"]:
        lines.append(f"### {suite['name']} — {suite['status']} ({suite['seconds']} s)")
        if suite["detail"]:
            lines.append("")
            lines.append(suite["detail"])
        if suite["metrics"]:
            lines += ["", "| metric | value | unit | target | note |", "|---|---|---|---|---|"]
            for metric in suite["metrics"]:
                lines.append(
                    f"| {metric['name']} | {_fmt(metric['value'])} | {metric['unit']} | {_verdict(metric)} "
                    f"| {metric['note']} |"
                )
        for title, rows in suite.get("tables", {}).items():
            lines += ["", f"*{title}*", "", *_table(rows)]
        lines.append("")
    return "\n".join(lines)
