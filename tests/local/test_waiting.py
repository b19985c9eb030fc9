"""Bounded polling (`meshplane.localnet.waiting`), on a simulated clock: no test here waits for real."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from meshplane.localnet import waiting


class Clock:
    """Stands in for `monotonic` and `sleep`: sleeping advances the clock and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(waiting, "monotonic", fake.monotonic)
    monkeypatch.setattr(waiting, "sleep", fake.sleep)
    yield fake


def answers(*values: object) -> Callable[[], object]:
    """A condition returning `values` in turn, then the last one forever; counts its calls."""
    remaining = list(values)

    def condition() -> object:
        condition.calls += 1  # type: ignore[attr-defined]
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    condition.calls = 0  # type: ignore[attr-defined]
    return condition


def test_the_first_truthy_value_is_returned_after_sleeping_the_interval_between_polls(clock: Clock) -> None:
    condition = answers(None, "", 0, {"ready": True})
    assert waiting.wait_until(condition, timeout=10, interval=0.5, what="readiness") == {"ready": True}
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_a_condition_true_at_once_never_sleeps(clock: Clock) -> None:
    assert waiting.wait_until(answers("up"), timeout=0) == "up"
    assert clock.sleeps == []


def test_a_wait_past_its_timeout_raises_naming_what_it_waited_for(clock: Clock) -> None:
    condition = answers(False)
    with pytest.raises(TimeoutError, match=r"timed out after 2s waiting for the admin address"):
        waiting.wait_until(condition, timeout=2, interval=0.5, what="the admin address")
    assert sum(clock.sleeps) == 2.0  # bounded: it stopped at the deadline
    assert condition.calls == 5  # type: ignore[attr-defined]  # at 0, 0.5, 1, 1.5 and once at the deadline


def test_the_last_poll_at_the_deadline_still_counts(clock: Clock) -> None:
    assert waiting.wait_until(answers(False, False, "late"), timeout=1, interval=0.5) == "late"


def test_an_exception_from_the_condition_ends_the_wait_unchanged(clock: Clock) -> None:
    def died() -> bool:
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="the process exited"):
        waiting.wait_until(died, timeout=60)
    assert clock.sleeps == []


def test_poll_gives_none_when_nothing_truthy_came_in_time(clock: Clock) -> None:
    assert waiting.poll(answers(0), timeout=1, interval=0.25) is None
    assert sum(clock.sleeps) == 1.0
    assert waiting.poll(answers(0, 7), timeout=1, interval=0.25) == 7
