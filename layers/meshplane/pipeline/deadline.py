"""The time an invocation has left, from its Lambda context: long work stops early and resumes at the next one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def seconds_left(context: Any) -> Callable[[], float]:
    """Seconds until the function's timeout; without a Lambda context (a direct call), never running out."""
    left = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(left):
        return lambda: float("inf")
    return lambda: left() / 1000
