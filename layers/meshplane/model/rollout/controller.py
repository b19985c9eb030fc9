"""The rollout controller as a pure function: (spec, progress, measurement, now) -> next progress.

No clock, no I/O: the scheduled handler reads the metrics and the time, calls `tick`, and
stores what it returns (conditioned on the version it read).  Decisions rest on measured
traffic, never on time alone: a step whose window ends with fewer than `minimumRequests`
requests to the canary is a failed check, not a healthy one.  A failed check beyond
`maxFailedChecks` returns every request to the stable target.
"""

from __future__ import annotations

from meshplane.model.rollout.spec import RolloutSpec
from meshplane.model.rollout.state import (
    ACTIVE,
    CANARY,
    FINAL,
    STABLE,
    HistoryEntry,
    Measurement,
    RolloutProgress,
    Weights,
)

COMMANDS = ("start", "pause", "resume", "abort", "promote")


class CommandRefused(ValueError):
    """A command the rollout's phase does not allow (the API answers ConflictException)."""


def window_start(progress: RolloutProgress) -> float | None:
    """Where the current check's measurement window starts; None when nothing is to be measured."""
    return progress.step_started_at if progress.phase == "PROGRESSING" else None


def tick(spec: RolloutSpec, progress: RolloutProgress, measured: Measurement | None, now: float) -> RolloutProgress:
    """The progress after one look at the canary's traffic; `progress` itself when nothing is decided."""
    if progress.phase != "PROGRESSING" or progress.step_started_at is None:
        return progress
    if measured is None:
        return progress  # no reading this tick: hold the weights, decide on the next one
    problems = violations(spec, measured)
    if problems:
        return _failed(spec, progress, measured, now, "; ".join(problems))
    if now - progress.step_started_at < spec.step_interval_seconds:
        return progress
    minimum = spec.success_criteria.minimum_requests
    if measured.requests < minimum:
        return _failed(spec, progress, measured, now,
                       f"no traffic measured: {measured.requests} requests to the canary, fewer than {minimum}")
    return _advanced(spec, progress, measured, now)


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
        return progress.recorded(entry, phase="PROGRESSING", step=0, step_started_at=now, failed_checks=0)
    if name == "pause":
        entry = _entry(now, progress.step, progress.weights, "PAUSED", "paused by the operator")
        return progress.recorded(entry, phase="PAUSED")
    if name == "resume":
        entry = _entry(now, progress.step, progress.weights, "RESUMED", "resumed: the step's window restarts")
        return progress.recorded(entry, phase="PROGRESSING", step_started_at=now)
    if name == "abort":
        entry = _entry(now, progress.step, STABLE, "ABORTED", "aborted by the operator")
        return progress.recorded(entry, phase="ABORTED", step_started_at=None)
    entry = _entry(now, progress.step, CANARY, "PROMOTED", "promoted by the operator")
    return progress.recorded(entry, phase="PROMOTED", step_started_at=None)


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
        return progress.recorded(entry, phase="ROLLED_BACK", failed_checks=failed, step_started_at=None)
    entry = _entry(now, progress.step, progress.weights, "FAILED_CHECK",
                   f"check {failed} of at most {spec.max_failed_checks} failed: {why}; the step is measured again",
                   measured)
    return progress.recorded(entry, failed_checks=failed, step_started_at=now)


def _advanced(spec: RolloutSpec, progress: RolloutProgress, measured: Measurement, now: float) -> RolloutProgress:
    step = progress.step + 1
    if step >= len(spec.steps):
        entry = _entry(now, progress.step, CANARY, "PROMOTED",
                       "every step healthy: all traffic to canary", measured)
        return progress.recorded(entry, phase="PROMOTED", step_started_at=None)
    entry = _entry(now, step, Weights.at(spec.steps[step]), "ADVANCED",
                   f"step {progress.step} healthy: step {step}, {spec.steps[step]}% to canary", measured)
    return progress.recorded(entry, step=step, step_started_at=now)


def _entry(now: float, step: int, weights: Weights | None, decision: str, reason: str,
           measured: Measurement | None = None) -> HistoryEntry:
    return HistoryEntry.model_validate({"at": now, "step": step, "weights": weights, "decision": decision,
                                        "reason": reason, "measured": measured})
