"""bench/RESULTS.md and its plots are built from the recorded runs, and cannot drift from them.

The report reads every target over each suite's current runs in bench/results/; a
target whose number a current run lacks stops the report instead of shortening
its table, and the committed document and plots must equal what the runs give.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
MODULES = ("history", "targets", "summary", "svgchart", "plots", "run_summary", "report")


@pytest.fixture(scope="module")
def bench() -> Iterator[dict[str, ModuleType]]:
    """The bench's report modules, imported from bench/ and forgotten afterwards."""
    import importlib

    sys.path.insert(0, str(BENCH))
    try:
        yield {name: importlib.import_module(name) for name in MODULES}
    finally:
        sys.path.remove(str(BENCH))
        for name in MODULES:
            sys.modules.pop(name, None)


@pytest.fixture
def copy(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A scratch copy of the recorded runs and of RESULTS.md, and an empty plots folder."""
    results = tmp_path / "results"
    shutil.copytree(BENCH / "results", results)
    document = tmp_path / "RESULTS.md"
    shutil.copy(BENCH / "RESULTS.md", document)
    return results, document, tmp_path / "plots"


def _latest_full_run(results: Path, suite: str) -> Path:
    """The newest full run that measured `suite`: the report always reads it."""
    return [p for p in sorted(results.glob("*-full-*.json"))
            if any(s["name"] == suite for s in json.loads(p.read_text()).get("suites", []))][-1]


def _edit_suite(path: Path, suite: str, change: Any) -> None:
    document = json.loads(path.read_text())
    change(next(s for s in document["suites"] if s["name"] == suite))
    path.write_text(json.dumps(document))


def test_the_committed_document_and_plots_are_what_the_recorded_runs_give() -> None:
    proc = subprocess.run([sys.executable, str(BENCH / "report.py"), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_every_target_is_a_row_of_the_table_and_every_suite_has_an_embedded_plot(
        bench: dict[str, ModuleType], copy: tuple[Path, Path, Path]) -> None:
    results, document, plot_dir = copy
    files = bench["report"].expected(results, document, plot_dir)
    text = files[document]
    block = text.split("<!-- generated: targets -->")[1].split("<!-- end generated -->")[0]
    table = [line for line in block.splitlines() if line.startswith("| ")][1:]  # below the header
    labels = [line.split("|")[2].strip() for line in table]
    assert labels == [t.label for t in bench["targets"].TARGETS]
    for suite in bench["plots"].SUITES:
        assert f"](plots/{suite}.svg)" in text
        svg = ET.fromstring(files[plot_dir / f"{suite}.svg"])
        medians = svg.findall(".//{http://www.w3.org/2000/svg}polygon/{http://www.w3.org/2000/svg}title")
        assert medians, suite  # one titled median marker per plotted row


def test_a_target_missing_from_a_current_run_stops_the_report(
        bench: dict[str, ModuleType], copy: tuple[Path, Path, Path]) -> None:
    results, document, plot_dir = copy
    latest = _latest_full_run(results, "translation")
    name = "one proxy with 10,000 egress clusters (+EDS, LDS, RDS)"
    _edit_suite(latest, "translation", lambda s: s.update(metrics=[m for m in s["metrics"] if m["name"] != name]))
    with pytest.raises(LookupError, match=re.escape(f"{latest.name}: translation: no metric '{name}'")):
        bench["report"].expected(results, document, plot_dir)


def test_a_suite_without_a_current_run_stops_the_report(
        bench: dict[str, ModuleType], copy: tuple[Path, Path, Path]) -> None:
    results, document, plot_dir = copy
    for run in results.glob("*-full-all.json"):
        _edit_suite(run, "fanout", lambda s: s.update(status="error"))
    with pytest.raises(LookupError, match="no current full run of fanout"):
        bench["report"].expected(results, document, plot_dir)


def test_a_recorded_threshold_that_differs_from_the_targets_stops_the_report(
        bench: dict[str, ModuleType], copy: tuple[Path, Path, Path]) -> None:
    results, document, plot_dir = copy

    def loosen(suite: dict[str, Any]) -> None:
        for metric in suite["metrics"]:
            if metric["name"] == "event accepted → Envoy routing, p50":
                metric["target"] = 400.0

    _edit_suite(_latest_full_run(results, "convergence"), "convergence", loosen)
    with pytest.raises(ValueError, match=re.escape("recorded target 400.0, the report holds 200.0")):
        bench["report"].expected(results, document, plot_dir)


def test_a_document_without_the_table_block_is_refused(
        bench: dict[str, ModuleType], copy: tuple[Path, Path, Path]) -> None:
    results, document, plot_dir = copy
    document.write_text(document.read_text().replace("<!-- generated: targets -->", ""))
    with pytest.raises(ValueError, match=re.escape("RESULTS.md has blocks")):
        bench["report"].expected(results, document, plot_dir)


def test_the_verdict_is_the_medians_and_the_runs_that_missed_are_counted(bench: dict[str, ModuleType]) -> None:
    targets, summary = bench["targets"], bench["summary"]
    target = targets.Target("peer", "ratio", targets.metric("r"), 10.0, "x", "higher")
    series = summary.Series(("a", "b", "c"), tuple(targets.Reading(v) for v in (7.6, 14.1, 16.6)))
    row = summary.Row(target, series)
    assert row.met and row.runs_met == 2
    lower = summary.Row(targets.Target("x", "ms", targets.metric("m"), 300.0, "ms"),
                        summary.Series(("a", "b", "c"), tuple(targets.Reading(v) for v in (290.0, 310.0, 320.0))))
    assert not lower.met and lower.runs_met == 1


def test_runs_are_named_by_start_profile_and_suites_so_none_overwrites_another(bench: dict[str, ModuleType]) -> None:
    history = bench["history"]
    everything = ["translation", "peer"]
    document = {"started": "2026-11-26T03:18:16Z", "profile": "full",
                "suites": [{"name": "translation"}, {"name": "peer"}]}
    assert history.run_filename(document, everything) == "2026-11-26T031816Z-full-all.json"
    assert history.run_filename(document, ["peer", *everything]) == "2026-11-26T031816Z-full-translation-peer.json"
    recorded = [p.name for p in (BENCH / "results").glob("*.json") if p.name != "index.json"]
    assert recorded and all(Path(name).match(history.RUN_GLOB) for name in recorded)


def test_a_baseline_run_of_an_earlier_design_is_noted_but_never_current(
        bench: dict[str, ModuleType], copy: tuple[Path, Path, Path]) -> None:
    history = bench["history"]
    results, _, _ = copy
    newest = _latest_full_run(results, "hot")
    index = json.loads((results / "index.json").read_text())
    current = [r.path.name for r in history.load(results).current("hot")]
    assert newest.name in current
    index.setdefault("baselines", {})[newest.name] = "an earlier design, run beside the current one"
    (results / "index.json").write_text(json.dumps(index))
    loaded = history.load(results)
    assert newest.name not in [r.path.name for r in loaded.current("hot")]
    assert loaded.notes[newest.name] == "an earlier design, run beside the current one"
