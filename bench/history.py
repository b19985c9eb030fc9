"""The recorded runs in `bench/results/`, and which of them describe the code as it stands.

Every run is kept, named by when it started, its profile and its suites
(`2026-11-26T031816Z-full-all.json`), so nothing is overwritten and the history is
data.  `index.json` beside them says, per suite, from which run on the measured
path is the current design (`current_since`), why (the change), and holds notes on
runs that measured something other than the tree (`runs`), the runs of an earlier
design kept beside current ones to compare the two on the same machine state
(`baselines`: noted, never current), and the machine facts the runs themselves did
not record (`machine`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
INDEX = "index.json"
STAMP = "%Y-%m-%dT%H%M%SZ"
RUN_GLOB = "????-??-??T??????Z-*.json"


def stamp_of(started: str) -> str:
    """`2026-11-26T03:18:16Z` -> `2026-11-26T031816Z` (sorts by time, safe in a file name)."""
    return time.strftime(STAMP, time.strptime(started, "%Y-%m-%dT%H:%M:%SZ"))


def run_filename(document: dict[str, Any], default_suites: Sequence[str]) -> str:
    """The file a run is recorded in: start time, profile, and `all` or the suites it ran."""
    names = [s["name"] for s in document["suites"]]
    what = "all" if names == list(default_suites) else "-".join(names)
    return f"{stamp_of(document['started'])}-{document['profile']}-{what}.json"


class NoCurrentRun(LookupError):
    """A suite has no finished full-size run since its current design began."""


@dataclass(frozen=True)
class Run:
    """One recorded run of `bench/run.py`."""

    path: Path
    document: dict[str, Any]

    @property
    def stamp(self) -> str:
        return stamp_of(self.document["started"])

    @property
    def profile(self) -> str:
        return str(self.document["profile"])

    def suite(self, name: str) -> dict[str, Any] | None:
        """The suite's result if it ran and finished ("ok")."""
        for suite in self.document["suites"]:
            if suite["name"] == name and suite["status"] == "ok":
                return dict(suite)
        return None


@dataclass(frozen=True)
class Since:
    """The first run of a suite's current design, and the change that began it."""

    stamp: str
    change: str


@dataclass(frozen=True)
class History:
    """Every recorded run, the index's notes, and the current runs of each suite."""

    runs: tuple[Run, ...]
    since: dict[str, Since]
    notes: dict[str, str]
    machine: dict[str, Any]
    baselines: frozenset[str] = frozenset()  # run file names measuring an earlier design, for comparison

    def current(self, suite: str) -> list[Run]:
        """The full-profile runs of `suite` from its current design on, oldest first, baselines aside; never none."""
        since = self.since[suite].stamp
        runs = [r for r in self.runs if r.profile == "full" and r.stamp >= since and r.suite(suite) is not None
                and r.path.name not in self.baselines]
        if not runs:
            raise NoCurrentRun(f"no current full run of {suite} (index.json: from {since})")
        return runs


def when(run: Run) -> str:
    """A run's start as people read it: `2026-11-26 03:18 UTC`."""
    started = run.document["started"]
    return f"{started[:10]} {started[11:16]} UTC"


def span(runs: Sequence[Run]) -> str:
    """When a set of runs (oldest first) was recorded."""
    return when(runs[0]) if len(runs) == 1 else f"{when(runs[0])} to {when(runs[-1])}"


def runs_text(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def load(directory: Path = RESULTS) -> History:
    """Read every run and the index; a note about a run that is not there is an error."""
    runs = tuple(sorted((Run(p, json.loads(p.read_text())) for p in directory.glob(RUN_GLOB)), key=lambda r: r.stamp))
    index = json.loads((directory / INDEX).read_text())
    baselines = dict(index.get("baselines", {}))
    notes = {**index.get("runs", {}), **baselines}
    unknown = sorted(set(notes) - {p.name for p in directory.iterdir()})
    if unknown:
        raise ValueError(f"{INDEX} notes files that are not in {directory}: {', '.join(unknown)}")
    since = {name: Since(entry["run"], entry["change"]) for name, entry in index["current_since"].items()}
    return History(runs, since, notes, dict(index.get("machine", {})), frozenset(baselines))
