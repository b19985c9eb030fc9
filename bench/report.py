"""Build RESULTS.md's numbers and the plots from the runs recorded in `bench/results/`.

    python bench/report.py            rewrite the generated blocks of bench/RESULTS.md, bench/plots/*.svg and
                                      the README's bill ("What it costs", bench/cost_report.py)
    python bench/report.py --check    exit 1 when RESULTS.md, a plot or the bill differs from what the runs give
    python bench/report.py --run FILE print one recorded run as markdown

RESULTS.md is prose around marked blocks (`<!-- generated: NAME -->` to `<!-- end generated -->`).
Only the blocks are rewritten, so every number in the document comes from the recorded runs,
and `--check` (run by tests/bench) catches a document or plot that no longer matches them.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cost_report
import plots
from history import RESULTS, History, Run, load, runs_text, span
from run_summary import render_markdown
from summary import TIMES, Row, rows, show

DOCUMENT = Path(__file__).resolve().parent / "RESULTS.md"
BLOCK = re.compile(r"(?P<open><!-- generated: (?P<name>[a-z]+) -->\n)(?P<body>.*?)(?P<close><!-- end generated -->)",
                   re.S)


def _distinct(values: Iterable[object]) -> str:
    return ", ".join(sorted({str(v) for v in values}))


def _current_runs(history: History) -> list[Run]:
    seen = {run.stamp: run for suite in plots.SUITES for run in history.current(suite)}
    return [seen[stamp] for stamp in sorted(seen)]


def machine_block(history: History) -> str:
    runs = _current_runs(history)
    facts = [run.document["machine"] for run in runs]
    memory = {m.get("memory_total_kib") or history.machine["memory_total_kib"] for m in facts}
    envoy = _distinct(str(m["envoy"]).split("/")[1] if "/" in str(m["envoy"]) else m["envoy"] for m in facts)
    lines = [
        f"- **CPU**: {_distinct(m['nproc'] for m in facts)} cores (`nproc`), {_distinct(m['cpu'] for m in facts)} "
        f"(`lscpu` model name), a {history.machine['hypervisor']} virtual machine.",
        f"- **Memory**: {_distinct(f'{kib / 2**20:.1f} GiB' for kib in memory)} (`MemTotal`).",
        f"- **Software**: {_distinct(m['platform'] for m in facts)}, CPython {_distinct(m['python'] for m in facts)}, "
        f"Envoy {envoy}.",
        "- **Runs behind the table and plots** (full size; each suite from its current design on, as "
        "`bench/results/index.json` records):",
    ]
    for suite in plots.SUITES:
        current = history.current(suite)
        lines.append(f"  - {suite}: {runs_text(len(current))}, {span(current)}")
    return "\n".join(lines) + "\n"


def _seconds(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.0f} s (1 run)"
    return f"{min(values):.0f} to {max(values):.0f} s ({len(values)} runs)"


def _complete(history: History, ending: str) -> list[float]:
    """Seconds of the recorded runs of every suite in which every suite finished (a timeout is not a duration)."""
    return [float(r.document["seconds"]) for r in history.runs
            if r.path.name.endswith(ending) and all(s["status"] == "ok" for s in r.document["suites"])]


def commands_block(history: History) -> str:
    full, quick = _complete(history, "-full-all.json"), _complete(history, "-quick-all.json")
    lines = [
        "| command | what it runs | time in the recorded runs |",
        "|---|---|---|",
        "| `make bench` | every suite at full size, then `bench/report.py` | " + _seconds(full) + " |",
        "| `make bench-quick` | smaller sizes, convergence left out: checks the harness, not used in the table | "
        + _seconds(quick) + " |",
        "| `make bench-report` | this file and the plots from `bench/results/` only (`--check` to verify) | |",
    ]
    for suite in plots.SUITES:
        times = [float((r.suite(suite) or {})["seconds"]) for r in history.current(suite)]
        median = statistics.median(times)
        lines.append(f"| `.venv/bin/python bench/run.py --only {suite}` | {plots.SUITES[suite][0]} "
                     f"| {median:.0f} s (median of {len(times)}) |")
    lines.append("| `.venv/bin/python -m pytest -q -n 0 tests/bench` | every suite at tiny sizes, and `--check` "
                 "of this file | |")
    return "\n".join(lines) + "\n"


def _target_text(row: Row) -> str:
    """The threshold as the issue states it: `≤ 75 ms`, `≥ 10` times, `≤ 5 KB`, `≤ 2 s`."""
    target = row.target
    if target.condition or target.target is None:
        return target.condition
    op = "≤" if target.better == "lower" else "≥"
    value, unit = target.target, target.unit
    if unit == "B" and value % 1024 == 0:
        value, unit = value / 1024, "KB"
    elif unit == "ms" and value >= 1000 and value % 1000 == 0:
        value, unit = value / 1000, "s"
    return f"{op} {value:g}{TIMES}" if unit == "x" else f"{op} {value:g} {unit}"


def _range(low: float, high: float, unit: str) -> str:
    """`41.3 to 66.2 ms`; one value when the runs agree to the digits shown."""
    low_text, high_text = show(low, unit), show(high, unit)
    if low_text == high_text:
        return low_text
    suffix = TIMES if unit == "x" else f" {unit}" if unit != "proxies" else ""
    return f"{low_text.removesuffix(suffix)} to {high_text}"


def targets_block(history: History) -> str:
    table = rows(history)
    lines = [
        "| suite | number | target | median | range | runs met | verdict | what it means |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        found, unit = row.series, row.target.unit
        spread = _range(found.low, found.high, unit)
        verdict = "met" if row.met else "**missed**"
        lines.append(f"| {row.target.suite} | {row.target.label} | {_target_text(row)} | {show(found.median, unit)} "
                     f"| {spread} | {row.runs_met} of {len(found.values)} | {verdict} | {row.target.meaning} |")
    missed = [row.target.label for row in table if not row.met]
    shaky = [row.target.label for row in table if row.met and row.runs_met < len(row.series.values)]
    lines.append("")
    lines.append("Missed at the median: " + ("; ".join(missed) if missed else "none") + ".")
    lines.append("")
    lines.append("Met at the median but not in every run: " + ("; ".join(shaky) if shaky else "none") + ".")
    return "\n".join(lines) + "\n"


def plots_block(history: History) -> str:
    lines = []
    for suite, (title, _, caption) in plots.SUITES.items():
        lines += [f"### {title}", "", f"![{title}](plots/{suite}.svg)", "", caption, ""]
    return "\n".join(lines)


def blocks(history: History) -> dict[str, str]:
    return {"machine": machine_block(history), "commands": commands_block(history),
            "targets": targets_block(history), "plots": plots_block(history)}


def splice(text: str, generated: dict[str, str]) -> str:
    """`text` with every marked block's body replaced; a block missing on either side is an error."""
    found = [m.group("name") for m in BLOCK.finditer(text)]
    if sorted(found) != sorted(generated):
        raise ValueError(f"RESULTS.md has blocks {found}, the report makes {sorted(generated)}")
    return BLOCK.sub(lambda m: m.group("open") + generated[m.group("name")] + m.group("close"), text)


def expected(results: Path, document: Path, plot_dir: Path, readme: Path = cost_report.README) -> dict[Path, str]:
    """Every generated file and what it should hold, from the runs in `results` (the README's bill included)."""
    history = load(results)
    files = {plot_dir / f"{suite}.svg": plots.chart(history, suite) for suite in plots.SUITES}
    files[document] = splice(document.read_text(), blocks(history))
    files[readme] = cost_report.spliced(readme.read_text(), history)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    parser.add_argument("--run", type=Path, help="print this recorded run as markdown and stop")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the recorded runs (default: bench/results)")
    parser.add_argument("--document", type=Path, default=DOCUMENT, help="the document (default: bench/RESULTS.md)")
    parser.add_argument("--plots", type=Path, default=plots.PLOTS, help="where the SVGs go (default: bench/plots)")
    args = parser.parse_args(argv)
    if args.run:
        note = load(args.run.parent).notes.get(args.run.name) if (args.run.parent / "index.json").exists() else None
        print(render_markdown(json.loads(args.run.read_text())) + (f"\nNote: {note}\n" if note else ""))
        return 0
    files = expected(args.results, args.document, args.plots)
    stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"out of date: {path} (run `make bench-report`)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
