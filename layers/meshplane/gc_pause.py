"""CPython's cyclic collector paused while proxies are translated, by every thread that translates at once.

One translation allocates hundreds of thousands of short-lived objects, each counting towards the collector,
whose full passes walk the whole heap (the mesh state included): 40% of one proxy's time at 10,000 clusters.
Run between translations, its collections cost a whole mesh translated on one thread about 12% more
(`bench/batch_cpu.py`); in a shard, whose threads overlap their translations and so kept it paused most of
the time even when each paused it for itself, about 5%.  A translation leaves no cyclic garbage
(`bench/suite_translation.py`'s whole mesh of 5,000 proxies: the collection after it frees nothing), and a
boto3 call about three objects (counted against the emulator over HTTP), so a batch of them pauses the
collector from its first proxy to its last and collects once, as usual, when it is enabled again.

The pause is counted, not toggled: threads that translate together (a shard's publishing pool) keep it paused
until the last of them leaves, and a caller that had disabled the collector itself keeps it disabled.
"""

from __future__ import annotations

import gc
import threading
from contextlib import AbstractContextManager


class _Pause:
    """The one pause of the process: a context manager that counts its holders (a class, not a generator: a
    whole mesh enters it once per proxy)."""

    lock = threading.Lock()
    holders = 0
    resume = False  # whether the collector was enabled when the first holder came

    def __enter__(self) -> None:
        with _Pause.lock:
            if _Pause.holders == 0:
                _Pause.resume = gc.isenabled()
                gc.disable()
            _Pause.holders += 1

    def __exit__(self, *exc: object) -> None:
        with _Pause.lock:
            _Pause.holders -= 1
            if _Pause.holders == 0 and _Pause.resume:
                gc.enable()


_PAUSE = _Pause()


def collector_paused() -> AbstractContextManager[None]:
    """The collector disabled from the first holder's entry to the last holder's exit, then as it was."""
    return _PAUSE
