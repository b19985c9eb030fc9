"""Work for nodes no stream waits on: coalesced per node, and put off while events keep coming.

Keeping idle nodes warm is speculative: it only saves the first Envoy of a node a load.
A change used by thousands of nodes brings as many ConfigPublished events within seconds;
loading every idle node as its event arrives would compete, on the server's one event
loop and its cores, with pushing the same change to the Envoys that are connected.  So
an idle node's event only marks it behind (`cache.SnapshotCache.published`) and names it
here; the node is loaded once the events pause for `quiet` seconds, or at the latest
`most` seconds after it was named, one node at a time, however many events named it
meanwhile.  A stream that opens on a node still behind loads it first, so no Envoy is
served a view older than the events already received.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from meshplane.delivery.limits_defaults import IDLE_MOST_S, IDLE_QUIET_S

log = logging.getLogger(__name__)

Work = Callable[[str, str], Awaitable[object]]  # (node path, the snapshot key its latest event named)


class IdleWork:
    """Nodes waiting for their idle refresh, oldest first, and the task that refreshes them."""

    def __init__(self, work: Work, quiet: float = IDLE_QUIET_S, most: float = IDLE_MOST_S,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._work = work
        self._quiet = max(0.0, quiet)
        self._most = max(0.0, most)
        self._clock = clock
        self._pending: OrderedDict[str, tuple[str, float]] = OrderedDict()  # path -> (hint, when first named)
        self._last_named = 0.0
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._pending)

    def name(self, path: str, hint: str = "") -> None:
        """`path` has something new: refresh it once events pause (its latest `hint` kept, its place too)."""
        now = self._last_named = self._clock()
        first = self._pending.get(path, ("", now))[1]
        self._pending[path] = (hint, first)
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    def due_in(self) -> float:
        """Seconds until the oldest pending node may be refreshed (0: now)."""
        if not self._pending:
            return 0.0
        first = next(iter(self._pending.values()))[1]
        return max(0.0, min(self._last_named + self._quiet, first + self._most) - self._clock())

    async def drained(self) -> None:
        """Wait until nothing is pending or being refreshed."""
        await self._idle.wait()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._pending.clear()
        self._idle.set()

    async def _run(self) -> None:
        while self._pending:
            wait = self.due_in()
            if wait > 0:  # names coming meanwhile only put the time off: look again then
                await asyncio.sleep(wait)
                continue
            path, (hint, _first) = self._pending.popitem(last=False)
            try:
                await self._work(path, hint)
            except Exception:  # one unreadable node must not stop the others; its stream loads it
                log.warning("idle refresh of %s failed", path, exc_info=True)
        self._idle.set()
