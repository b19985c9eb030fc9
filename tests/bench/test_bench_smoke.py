"""The benchmark harness still runs end to end, so `make bench` cannot rot between runs.

This checks that every suite runs on tiny sizes and reports well-formed numbers;
it never asserts speed (benchmarks are not timed unit tests).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITES = {"translation", "incremental", "coldstart", "peer", "fanout", "status"}


def test_every_suite_runs_on_tiny_sizes_and_reports_finite_measured_numbers(tmp_path: Path) -> None:
    out = tmp_path / "tiny.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--tiny", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    document = json.loads(out.read_text())
    assert document["profile"] == "tiny"
    assert document["machine"]["nproc"] >= 1
    assert document["machine"]["memory_total_kib"] > 0
    assert document["tree"] and document["tree"] != "unknown"  # the commit measured
    assert len(document["load_average"]["start"]) == len(document["load_average"]["end"]) == 3
    suites = {s["name"]: s for s in document["suites"]}
    assert set(suites) == SUITES
    for name, suite in suites.items():
        assert suite["status"] == "ok", f"{name}: {suite['status']} {suite['detail']}"
        assert suite["metrics"], name
        for metric in suite["metrics"]:
            assert math.isfinite(metric["value"]) and metric["value"] >= 0, (name, metric)
            assert metric["unit"], (name, metric)
            assert metric["met"] in (True, False, None)
    assert "| metric | value |" in proc.stdout


def test_an_unknown_suite_name_is_refused() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--only", "nonsense"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown suites: nonsense" in proc.stderr
