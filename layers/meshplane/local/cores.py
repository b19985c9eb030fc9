"""One core per worker of a function that runs several at once, as Lambda gives each its own vCPU.

A worker is one Python process: its threads take turns on the GIL, so it never computes on
more than one core at a time.  Left to move between cores, it hands the GIL from a thread
on one core to a thread on the other at every switch, and each handover costs a wake-up
across cores and caches that go cold.  A shard worker publishing on 25 threads, alone on
two cores, spent half again the CPU per proxy it spent kept to one (2.5 ms against 1.7 ms,
measured by hand); in the hot suite (`bench/suite_hot.py`), where other processes share
the cores, unpinned shards spent 18.3 s of CPU and pinned ones 16.6 s.  So the
workers of a function whose pool holds several are spread over the cores the runtime may
use, one core each; a lone worker stays free to run wherever there is room.
"""

from __future__ import annotations

import os


def usable() -> list[int]:
    """The cores this process may run on, in order."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def core_for(worker: int, pool_size: int) -> int | None:
    """The core the `worker`-th worker (from 0) of a pool of `pool_size` runs on; None: any (a pool of one)."""
    if pool_size < 2:
        return None
    cores = usable()
    return cores[worker % len(cores)]


def pin(core: int | None) -> None:
    """Keep this process on `core` (None, or a platform without affinity: left as it is)."""
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
