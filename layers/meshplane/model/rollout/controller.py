"""The rollout controller as a pure function: (spec, progress, measurements, callers, now) -> next progress.

No clock, no I/O: the scheduled handler reads the metrics, the callers' sync and the time, calls
`tick`, and stores what it returns (conditioned on the version it read).  Decisions rest on measured
traffic, never on time alone: a step whose window ends with fewer than `minimumRequests` attempts on
the canary is a failed check, not a healthy one.  A failed check beyond `maxFailedChecks` returns
every request to the stable target.

A step is watched from the moment its weights are stored: every look checks the canary's traffic
since then against the criteria, so a failing canary is rolled back however far the new weights have
spread.  The step's window, the traffic that can make it healthy, opens only once the callers' Envoys
run its weights (`CallerSync`), or after one step interval without that confirmation, recorded as
`WINDOW_UNCONFIRMED`; it is then held one step interval.
"""

from __future__ import annotations

import math

from meshplane.model.rollout.spec import RolloutSpec
from meshplane.model.rollout.state import (
    ACTIVE,
    CANARY,
    FINAL,
    STABLE,
    CallerSync,
    HistoryEntry,
    Measurement,
    RolloutProgress,
    Weights,
)

COMMANDS = ("start", "pause", "resume", "abort", "promote")


class CommandRefused(ValueError):
    """A command the rollout's phase does not allow (the API answers ConflictException)."""


def window_start(progress: RolloutProgress) -> float | None:
    """Where the current step's watch starts (its weights stored); None when nothing is to be measured."""
    return progress.step_started_at if progress.phase == "PROGRESSING" else None


def window_opening(now: float) -> float:
    """When a window opened at `now` starts: the next whole second.  The metrics have one-second resolution,
    so a window holds whole seconds, and its interval is counted from the first of them."""
    return float(math.ceil(now))


def window_due(spec: RolloutSpec, progress: RolloutProgress, now: float) -> bool:
    """Whether the step's window has been open one step interval: its traffic decides the step."""
    opened = progress.window_started_at
    return progress.phase == "PROGRESSING" and opened is not None and now - opened >= spec.step_interval_seconds


def tick(spec: RolloutSpec, progress: RolloutProgress, measured: Measurement | None, now: float, *,
         callers: CallerSync | None = None, window: Measurement | None = None) -> RolloutProgress:
    """The progress after one look; `progress` itself when nothing is decided.

    `measured` is the canary's traffic since the step's weights were stored; `window` its traffic since the
    step's window opened, read once `window_due`; `callers` whether the callers run the weights, read while
    the window is not open.
    """
    if progress.phase != "PROGRESSING" or progress.step_started_at is None:
        return progress
    if measured is None:
        return progress  # no reading this tick: hold the weights, decide on the next one
    problems = violations(spec, measured)
    if problems:
        return _failed(spec, progress, measured, now, "; ".join(problems))
    if progress.window_started_at is None:
        return _opened(spec, progress, callers, now)
    if not window_due(spec, progress, now) or window is None:
        return progress
    problems = violations(spec, window)
    if problems:
        return _failed(spec, progress, window, now, "; ".join(problems))
    minimum = spec.success_criteria.minimum_requests
    if window.requests < minimum:
        return _failed(spec, progress, window, now,
                       f"no traffic measured: {window.requests} requests to the canary, fewer than {minimum}")
    return _advanced(spec, progress, window, now)


def _opened(spec: RolloutSpec, progress: RolloutProgress, callers: CallerSync | None,
            now: float) -> RolloutProgress:
    """The progress with the step's window open once the callers run its weights, or one interval without them."""
    assert progress.step_started_at is not None
    if callers is not None and callers.confirmed:
        return progress.model_copy(update={"window_started_at": window_opening(now)})
    waited = now - progress.step_started_at
    if waited < spec.step_interval_seconds:
        return progress
    seen = callers.detail if callers is not None else "their state could not be read"
    entry = _entry(now, progress.step, progress.weights, "WINDOW_UNCONFIRMED",
                   f"the callers had not confirmed step {progress.step}'s weights after {waited:.1f} s ({seen}); "
                   "its window opens without them")
    return progress.recorded(entry, window_started_at=window_opening(now))


def violations(spec: RolloutSpec, measured: Measurement) -> list[str]:
    """The criteria `measured` breaks; error rate and latency count only once the window holds enough requests."""
    criteria = spec.success_criteria
    found = [f"alarm {name!r} is {measured.alarms.get(name, 'MISSING')}"
             for name in criteria.alarm_names if measured.alarms.get(name) != "OK"]
    if measured.requests < criteria.minimum_requests:
        return found
    rate = measured.error_rate_percent or 0.0
    if criteria.max_error_rate_percent is not None and rate > criteria.max_error_rate_percent:
        found.append(f"5xx rate {rate:.2f}% over {measured.requests} requests, above "
                     f"{criteria.max_error_rate_percent:g}%")
    if criteria.max_p99_millis is not None:
        if measured.p99_millis is None:
            found.append("no latency measured")
        elif measured.p99_millis > criteria.max_p99_millis:
            found.append(f"p99 {measured.p99_millis:.1f} ms above {criteria.max_p99_millis:g} ms")
    return found


def command(spec: RolloutSpec, progress: RolloutProgress, name: str, now: float) -> RolloutProgress:
    """The progress after an operator's `start`, `pause`, `resume`, `abort` or `promote`."""
    allowed = {"start": {"PENDING"}, "pause": {"PROGRESSING"}, "resume": {"PAUSED"},
               "abort": {"PENDING", *ACTIVE}, "promote": set(ACTIVE)}
    if name not in allowed:
        raise CommandRefused(f"unknown command {name!r}; one of {', '.join(COMMANDS)}")
    if progress.phase not in allowed[name]:
        raise CommandRefused(f"cannot {name} a rollout that is {progress.phase}")
    if name == "start":
        entry = _entry(now, 0, Weights.at(spec.steps[0]), "STARTED", f"step 0: {spec.steps[0]}% to canary")
        return progress.recorded(entry, phase="PROGRESSING", step=0, step_started_at=now, window_started_at=None,
                                 failed_checks=0)
    if name == "pause":
        entry = _entry(now, progress.step, progress.weights, "PAUSED", "paused by the operator")
        return progress.recorded(entry, phase="PAUSED")
    if name == "resume":
        entry = _entry(now, progress.step, progress.weights, "RESUMED", "resumed: the step's window restarts")
        return progress.recorded(entry, phase="PROGRESSING", step_started_at=now, window_started_at=window_opening(now))
    if name == "abort":
        entry = _entry(now, progress.step, STABLE, "ABORTED", "aborted by the operator")
        return progress.recorded(entry, phase="ABORTED", step_started_at=None, window_started_at=None)
    entry = _entry(now, progress.step, CANARY, "PROMOTED", "promoted by the operator")
    return progress.recorded(entry, phase="PROMOTED", step_started_at=None, window_started_at=None)


def owns_route(progress: RolloutProgress) -> bool:
    """Whether the route's weights must equal `progress.weights` (final phases leave the route to its owner)."""
    return progress.phase in ACTIVE and progress.weights is not None


def is_final(progress: RolloutProgress) -> bool:
    return progress.phase in FINAL


def _failed(spec: RolloutSpec, progress: RolloutProgress, measured: Measurement, now: float,
            why: str) -> RolloutProgress:
    failed = progress.failed_checks + 1
    if failed > spec.max_failed_checks:
        entry = _entry(now, progress.step, STABLE, "ROLLED_BACK",
                       f"check {failed} failed (at most {spec.max_failed_checks} allowed): {why}", measured)
        return progress.recorded(entry, phase="ROLLED_BACK", failed_checks=failed, step_started_at=None,
                                 window_started_at=None)
    entry = _entry(now, progress.step, progress.weights, "FAILED_CHECK",
                   f"check {failed} of at most {spec.max_failed_checks} failed: {why}; the step is measured again",
                   measured)
    return progress.recorded(entry, failed_checks=failed, step_started_at=now, window_started_at=window_opening(now))


def _advanced(spec: RolloutSpec, progress: RolloutProgress, measured: Measurement, now: float) -> RolloutProgress:
    step = progress.step + 1
    if step >= len(spec.steps):
        entry = _entry(now, progress.step, CANARY, "PROMOTED",
                       "every step healthy: all traffic to canary", measured)
        return progress.recorded(entry, phase="PROMOTED", step_started_at=None, window_started_at=None)
    entry = _entry(now, step, Weights.at(spec.steps[step]), "ADVANCED",
                   f"step {progress.step} healthy: step {step}, {spec.steps[step]}% to canary", measured)
    return progress.recorded(entry, step=step, step_started_at=now, window_started_at=None)


def _entry(now: float, step: int, weights: Weights | None, decision: str, reason: str,
           measured: Measurement | None = None) -> HistoryEntry:
    return HistoryEntry.model_validate({"at": now, "step": step, "weights": weights, "decision": decision,
                                        "reason": reason, "measured": measured})
