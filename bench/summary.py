"""Each target read over a suite's current runs: the median, the range, and the verdict.

The verdict is the median's (a single lucky or unlucky run does not decide it);
how many runs met the target is reported beside it, so a target that sits near its
line shows as met in only some runs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from history import History
from targets import TARGETS, MissingReading, Reader, Reading, Target


@dataclass(frozen=True)
class Series:
    """One number read from every current run of a suite, oldest run first."""

    stamps: tuple[str, ...]
    readings: tuple[Reading, ...]

    @property
    def values(self) -> list[float]:
        return [r.value for r in self.readings]

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


def series(history: History, suite: str, read: Reader) -> Series:
    """`read` applied to every current run of `suite`; no current run, or a run without the number, is an error."""
    runs = history.current(suite)
    readings = []
    for run in runs:
        document = run.suite(suite)
        assert document is not None  # current() keeps only runs where the suite finished
        try:
            readings.append(read(document))
        except MissingReading as exc:
            raise MissingReading(f"{run.path.name}: {exc}") from exc
    return Series(tuple(r.stamp for r in runs), tuple(readings))


@dataclass(frozen=True)
class Row:
    """One target against its series."""

    target: Target
    series: Series

    @property
    def runs_met(self) -> int:
        return sum(self.target.met(r) for r in self.series.readings)

    @property
    def met(self) -> bool:
        if self.target.condition:
            return self.runs_met == len(self.series.readings)
        return self.target.met(Reading(self.series.median))


def rows(history: History, targets: tuple[Target, ...] = TARGETS) -> list[Row]:
    """Every target's row; a suite that recorded a different threshold than `targets` holds is an error."""
    result = []
    for target in targets:
        found = series(history, target.suite, target.read)
        for stamp, reading in zip(found.stamps, found.readings, strict=True):
            if reading.recorded_target is not None and reading.recorded_target != target.target:
                raise ValueError(f"{target.label}: run {stamp} recorded target {reading.recorded_target}, "
                                 f"the report holds {target.target}")
        result.append(Row(target, found))
    return result



TIMES = "\N{MULTIPLICATION SIGN}"


def _digits(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def show(value: float, unit: str) -> str:
    """A measured value as the report prints it: about three significant figures, with its unit."""
    if unit == "x":
        return f"{value:.1f}{TIMES}"
    if unit == "proxies":
        return f"{value:,.0f}"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{_digits(value)} {unit}"
