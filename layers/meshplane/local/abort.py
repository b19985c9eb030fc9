"""Aborting `local up` startup on SIGTERM/SIGINT at once, rather than after every phase has finished.

Why: on a loaded machine startup takes many seconds (moto, the deploy, importing every
function), and a signal that only sets a flag is acted on at the end of it.  While startup
is armed, the signal handler raises `StartupAborted` in the main thread, interrupting
whatever it waits on; `deferred()` wraps the few statements that start a child and record
it, so the raise never lands between the two and leaves a child nobody knows to stop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class StartupAborted(BaseException):  # like KeyboardInterrupt: `except Exception` does not swallow it
    """A stop signal arrived while `local up` was starting."""


class _Guard:
    armed = False
    pending = False
    depth = 0


_guard = _Guard()


def arm() -> None:
    _guard.armed, _guard.pending, _guard.depth = True, False, 0


def disarm() -> None:
    _guard.armed = False


def on_signal() -> None:
    """Called from the signal handler (main thread): abort now, or as soon as the deferred section ends."""
    if not _guard.armed:
        return
    if _guard.depth:
        _guard.pending = True
        return
    _guard.armed = False
    raise StartupAborted


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold an abort until the block (start a child and record it) is done; main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _guard.depth += 1
    try:
        yield
    finally:
        _guard.depth -= 1
        if not _guard.depth and _guard.pending and _guard.armed:
            _guard.armed = _guard.pending = False
            raise StartupAborted
