"""Run meshplane's benchmarks: `python bench/run.py [--quick|--tiny] [--only a,b] [--out file.json]`.

Each suite runs in a fresh Python process so one suite's imports, caches and
garbage never flatter or burden the next, and a crash in one is recorded rather
than losing the run.  The run is recorded as JSON in `bench/results/`, named by
its start, profile and suites so no run overwrites another (`bench/report.py`
builds RESULTS.md from them), and printed as a markdown summary.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, ROOT, Profile, Suite, load_average, machine, tree
from history import RESULTS, run_filename
from run_summary import render_markdown

# suite name -> module in bench/ exposing run(profile) -> Suite; in run order
SUITES: dict[str, str] = {
    "translation": "suite_translation",
    "incremental": "suite_incremental",
    "coldstart": "suite_coldstart",
    "peer": "suite_peer",
    "fanout": "suite_fanout",
    "convergence": "suite_convergence",
    "cost": "suite_cost",
    "hot": "suite_hot",
    "status": "suite_status",
    "rollout": "suite_rollout",
}
# suites too slow for --quick/--tiny (they bring up the whole local stack, a whole emulated mesh of 1,000
# nodes, or an ADS server with 1,000 streams): run only with --only or in full
FULL_ONLY = frozenset({"convergence", "cost", "hot", "rollout"})
# suites that take a multiple of the budget (cost: every call of a 1,000-node mesh over HTTP to the emulator)
BUDGET_SCALE = {"convergence": 2, "cost": 8, "hot": 6, "rollout": 2}
# how long one suite may take before it is recorded as an error (seconds)
BUDGET = {"full": 420, "quick": 150, "tiny": 300}


def run_one(name: str, profile: Profile) -> dict[str, Any]:
    """Run one suite in a child process and return its result document."""
    started = time.perf_counter()
    budget = BUDGET[profile.name] * BUDGET_SCALE.get(name, 1)
    cmd = [sys.executable, str(BENCH / "run.py"), "--child", name, f"--{profile.name}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the child's finally blocks stop what it started
        try:
            stdout, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        sys.stderr.write(stderr)
        return Suite(name, "error", f"exceeded {budget} s", seconds=time.perf_counter() - started).to_dict()
    sys.stderr.write(stderr)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return Suite(name, "error", f"exit {proc.returncode}: {tail}", seconds=time.perf_counter() - started).to_dict()
    return json.loads(lines[-1])


def child(name: str, profile: Profile) -> int:
    """Inside the child: run the suite and print its JSON as the last stdout line."""
    import importlib

    from common import NotLanded

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through the suite's finally blocks

    signal.signal(signal.SIGTERM, stop)
    started = time.perf_counter()
    try:
        suite = importlib.import_module(SUITES[name]).run(profile)
    except NotLanded as exc:
        suite = Suite(name, "missing", str(exc))
    suite.seconds = time.perf_counter() - started
    print(json.dumps(suite.to_dict()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    size.add_argument("--tiny", action="store_true", help="smallest sizes, for the smoke test")
    size.add_argument("--full", action="store_true", help="the default: every size the issue asks for")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(SUITES)}")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the JSON results here (default: bench/results/<UTC start>-<profile>-<suites>.json)")
    parser.add_argument("--markdown", type=Path, default=None, help="write the markdown summary here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    profile = Profile("quick" if args.quick else "tiny" if args.tiny else "full")
    if args.child:
        return child(args.child, profile)

    default = [n for n in SUITES if profile.name == "full" or n not in FULL_ONLY]
    names = [n for n in args.only.split(",") if n] or default
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        parser.error(f"unknown suites: {', '.join(unknown)}")
    started = time.perf_counter()
    document: dict[str, Any] = {
        "profile": profile.name,
        "command": " ".join([Path(sys.executable).name, "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "tree": tree(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": {"start": load_average()},
        "suites": [],
    }
    for name in names:
        print(f"== {name} ({profile.name})", file=sys.stderr, flush=True)
        result = run_one(name, profile)
        document["suites"].append(result)
        print(f"   {result['status']} in {result['seconds']} s {result['detail']}", file=sys.stderr, flush=True)
    document["seconds"] = round(time.perf_counter() - started, 1)
    document["load_average"]["end"] = load_average()
    out = args.out or RESULTS / run_filename(document, default)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    markdown = render_markdown(document)
    if args.markdown:
        args.markdown.write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
