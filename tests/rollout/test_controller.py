"""The pure controller: decisions rest on measured traffic, never on time alone, and a failing canary is
always rolled back to the stable target."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from meshplane.model.rollout import controller
from meshplane.model.rollout.spec import RolloutSpec
from meshplane.model.rollout.state import CANARY, STABLE, CallerSync, Measurement, RolloutProgress, Weights

T0 = 1_000_000.0
SYNCED = CallerSync(confirmed=True, detail="1 caller(s) applied the step's snapshot")
BEHIND = CallerSync(confirmed=False, detail="front: 1 of 2 Envoys not on it yet")


def spec(**changes: object) -> RolloutSpec:
    body: dict[str, object] = {
        "route": {"virtualRouterName": "r", "routeName": "all"}, "stable": {"virtualNode": "blue"},
        "canary": {"virtualNode": "green"}, "steps": [5, 25, 50], "stepIntervalSeconds": 10,
        "successCriteria": {"maxErrorRatePercent": 1, "maxP99Millis": 200, "alarmNames": ["slo"],
                            "minimumRequests": 20},
        "maxFailedChecks": 1,
    }
    body.update(changes)
    return RolloutSpec.model_validate(body)


def measured(requests: int = 100, errors: int = 0, p99: float | None = 50.0, alarm: str = "OK") -> Measurement:
    return Measurement(window_start=T0, window_end=T0, requests=requests, errors=errors, p99_millis=p99,
                       alarms={"slo": alarm})


def started(s: RolloutSpec, at: float = T0) -> RolloutProgress:
    """A started rollout whose callers confirmed the first step's weights at once."""
    p = controller.command(s, RolloutProgress(), "start", at)
    return look(s, p, measured(requests=0), at)


def look(s: RolloutSpec, p: RolloutProgress, reading: Measurement | None, now: float,
         callers: CallerSync | None = SYNCED) -> RolloutProgress:
    """One tick as the runtime makes it: the callers read while the window is closed, the window once it is due."""
    due = controller.window_due(s, p, now)
    return controller.tick(s, p, reading, now, callers=callers if p.window_started_at is None else None,
                           window=reading if due else None)


def test_healthy_steps_advance_at_each_interval_then_promote() -> None:
    s = spec()
    p = started(s)
    assert (p.weights, p.window_started_at) == (Weights.at(5), T0)
    assert look(s, p, measured(), T0 + 9.9) is p  # the window is not over
    for now, percent in ((T0 + 10, 25), (T0 + 20, 50)):
        p = look(s, p, measured(), now)
        assert (p.phase, p.weights, p.window_started_at) == ("PROGRESSING", Weights.at(percent), None)
        p = look(s, p, measured(), now)
        assert p.window_started_at == now
    p = look(s, p, measured(), T0 + 30)
    assert (p.phase, p.weights) == ("PROMOTED", CANARY)
    assert [h.decision for h in p.history] == ["STARTED", "ADVANCED", "ADVANCED", "PROMOTED"]
    assert all(h.measured is not None and h.measured.requests == 100 for h in p.history[1:])


def test_a_step_without_traffic_is_not_healthy() -> None:
    s = spec(maxFailedChecks=0)
    p = look(s, started(s), measured(requests=19), T0 + 10)
    assert (p.phase, p.weights) == ("ROLLED_BACK", STABLE)
    assert "no traffic measured: 19 requests" in (p.reason or "")
    assert look(s, started(s), None, T0 + 3600).phase == "PROGRESSING"  # no reading: hold, never advance


def test_the_window_opens_when_the_callers_run_the_weights_and_decides_on_its_own_traffic() -> None:
    s = spec()
    p = controller.command(s, RolloutProgress(), "start", T0)
    assert look(s, p, measured(), T0 + 4, BEHIND) is p  # stored, not yet on the callers' Envoys: wait
    p = look(s, p, measured(), T0 + 5.2, SYNCED)
    # no decision; the window holds whole seconds (the metrics' resolution), from the next one
    assert (p.window_started_at, len(p.history), p.weights) == (T0 + 6, 1, Weights.at(5))
    assert look(s, p, measured(), T0 + 15.9) is p  # one interval from the window's opening, not the step's
    held = controller.tick(s, p, measured(), T0 + 16, window=None)
    assert held is p  # the step's traffic alone never advances it: the window's reading decides
    window = measured(requests=40)
    p = controller.tick(s, p, measured(), T0 + 16, window=window)
    assert (p.weights, p.history[-1].decision, p.history[-1].measured) == (Weights.at(25), "ADVANCED", window)
    assert p.window_started_at is None  # the next step waits for its own weights on the callers


@pytest.mark.parametrize("callers", [BEHIND, None])
def test_a_window_never_confirmed_opens_after_one_interval_and_says_why(callers: CallerSync | None) -> None:
    s = spec()
    p = controller.command(s, RolloutProgress(), "start", T0)
    assert look(s, p, measured(), T0 + 9.9, callers) is p
    p = look(s, p, measured(), T0 + 10, callers)
    entry = p.history[-1]
    assert (entry.decision, entry.weights, p.window_started_at) == ("WINDOW_UNCONFIRMED", Weights.at(5), T0 + 10)
    why = BEHIND.detail if callers is not None else "their state could not be read"
    assert f"had not confirmed step 0's weights after 10.0 s ({why})" in entry.reason
    assert look(s, p, measured(), T0 + 20).history[-1].decision == "ADVANCED"


def test_a_failing_canary_rolls_back_before_its_callers_confirm_the_weights() -> None:
    s = spec(maxFailedChecks=0)
    p = controller.command(s, RolloutProgress(), "start", T0)
    p = look(s, p, measured(requests=30, errors=12), T0 + 1, BEHIND)
    assert (p.phase, p.weights, p.history[-1].decision) == ("ROLLED_BACK", STABLE, "ROLLED_BACK")
    assert "5xx rate 40.00% over 30 requests" in (p.reason or "")


@pytest.mark.parametrize(("reading", "why"), [
    (measured(errors=2), "5xx rate 2.00% over 100 requests, above 1%"),
    (measured(p99=250.0), "p99 250.0 ms above 200 ms"),
    (measured(p99=None), "no latency measured"),
    (measured(alarm="ALARM"), "alarm 'slo' is ALARM"),
    (Measurement(window_start=T0, window_end=T0, requests=100, errors=0, p99_millis=1.0), "alarm 'slo' is MISSING"),
])
def test_a_violation_fails_the_check_at_once_and_the_next_rolls_back(reading: Measurement, why: str) -> None:
    s = spec()
    p = look(s, started(s), reading, T0 + 1)  # before the interval ends
    assert (p.phase, p.weights, p.failed_checks, p.step_started_at) == ("PROGRESSING", Weights.at(5), 1, T0 + 1)
    assert p.window_started_at == T0 + 1  # measured again at the same weights: the callers have them
    assert why in (p.reason or "")
    p = look(s, p, reading, T0 + 2)
    assert (p.phase, p.weights, p.history[-1].decision) == ("ROLLED_BACK", STABLE, "ROLLED_BACK")
    assert p.history[-1].measured == reading


def test_errors_on_too_few_requests_wait_for_the_minimum() -> None:
    s = spec()
    p = started(s)
    assert look(s, p, measured(requests=10, errors=5), T0 + 1) is p


def test_commands_follow_the_phases() -> None:
    s = spec()
    p = started(s)
    paused = controller.command(s, p, "pause", T0 + 1)
    assert look(s, paused, measured(errors=100), T0 + 50) is paused  # a paused rollout decides nothing
    resumed = controller.command(s, paused, "resume", T0 + 60)
    assert (resumed.step_started_at, resumed.window_started_at, resumed.weights) == (T0 + 60, T0 + 60, Weights.at(5))
    assert controller.command(s, resumed, "promote", T0 + 61).weights == CANARY
    aborted = controller.command(s, resumed, "abort", T0 + 61)
    assert (aborted.phase, aborted.weights) == ("ABORTED", STABLE)
    for name in controller.COMMANDS:
        with pytest.raises(controller.CommandRefused):
            controller.command(s, aborted, name, T0 + 62)


readings = st.one_of(st.none(), st.builds(
    lambda requests, errors, p99, alarm: measured(requests, min(errors, requests), p99, alarm),
    st.integers(0, 500), st.integers(0, 50), st.one_of(st.none(), st.floats(0, 1000)),
    st.sampled_from(["OK", "OK", "OK", "ALARM", "INSUFFICIENT_DATA"])))


syncs = st.one_of(st.none(), st.sampled_from([SYNCED, BEHIND]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 30), readings, syncs), max_size=40), st.integers(0, 3))
def test_every_run_keeps_the_invariants(ticks: list[tuple[float, Measurement | None, CallerSync | None]],
                                        max_failed: int) -> None:
    """Whatever the readings and the callers: weights are always a step, all-stable or all-canary; each advance
    or promotion follows a full interval of an open window with at least minimumRequests healthy requests; more
    than maxFailedChecks failed checks always end on the stable target; a finished rollout never changes."""
    s = spec(maxFailedChecks=max_failed)
    p, now = controller.command(s, RolloutProgress(), "start", T0), T0
    for gap, reading, callers in ticks:
        now += gap
        before = p
        p = look(s, p, reading, now, callers)
        assert p.weights in {*(Weights.at(x) for x in s.steps), STABLE, CANARY}
        if before.phase != "PROGRESSING":
            assert p is before
            continue
        if p is before:
            continue
        assert reading is not None
        if p.history == before.history:  # the window opened on the callers' word
            assert callers == SYNCED and p.weights == before.weights
            assert p.window_started_at == controller.window_opening(now) >= now
            continue
        decision = p.history[-1].decision
        if decision == "WINDOW_UNCONFIRMED":
            assert before.step_started_at is not None and now - before.step_started_at >= s.step_interval_seconds
            continue
        if decision in ("ADVANCED", "PROMOTED"):
            assert before.window_started_at is not None
            assert now - before.window_started_at >= s.step_interval_seconds
            assert reading.requests >= s.success_criteria.minimum_requests
            assert controller.violations(s, reading) == []
        else:
            assert decision in ("FAILED_CHECK", "ROLLED_BACK")
            assert (decision == "ROLLED_BACK") == (p.failed_checks > max_failed)
            if decision == "ROLLED_BACK":
                assert (p.phase, p.weights) == ("ROLLED_BACK", STABLE)
