"""Blocking calls on daemon threads, for calls that may block long (SQS long polls).

`asyncio.to_thread` uses the default executor, whose threads both `asyncio.run` and
interpreter exit wait for: a 5-second long poll in flight would hold a SIGTERMed
server past its grace period.  A daemon thread is simply abandoned at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def in_daemon_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def hand_over(outcome: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while we blocked: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    def work() -> None:
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the awaiting coroutine
            error = exc
            hand_over(lambda: future.set_exception(error))
        else:
            hand_over(lambda: future.set_result(result))

    threading.Thread(target=work, name=f"blocking-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return await future
