"""Bounded polling: the one way the local runtime, the demo and the test harness wait for something.

A condition is a zero-argument callable polled every `interval` seconds until it returns
a truthy value or `timeout` seconds have passed.  It is always called at least once, and
once more after the deadline, so a slow machine never fails a wait whose last poll
would have succeeded.  A condition stops a wait early by raising (the process it
waits on died, say): the exception reaches the caller unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic, sleep
from typing import TypeVar

T = TypeVar("T")


def poll(condition: Callable[[], T | None], timeout: float, interval: float = 0.05) -> T | None:
    """`condition`'s first truthy value within `timeout` seconds, else None."""
    deadline = monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if monotonic() >= deadline:
            return None
        sleep(interval)


def wait_until(
    condition: Callable[[], T | None], timeout: float, interval: float = 0.05, what: str = "condition"
) -> T:
    """`condition`'s first truthy value; TimeoutError naming `what` if none comes within `timeout` seconds."""
    value = poll(condition, timeout, interval)
    if value is None:  # a truthy value is never None
        raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
    return value
