"""meshplane's real ADS server over the hot-change suite's bucket directory: `python bench/suite_hot_ads.py DIR FIFO`.

The source reads pointers and snapshots from DIR, where `suite_hot_pipeline.py` writes
them in the bucket's layout; every line on FIFO is the node id of a ConfigPublished,
and the cache takes it as the server's queue consumer does (`SnapshotCache.published`).  It prints
`ready <port>` and serves until stdin closes or says `quit`; `settle N` on stdin waits until N
events are taken and the idle refreshes they put off are done, then prints `settled`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from meshplane.delivery.service import AdsOptions, AdsService
from meshplane.model.ids import ProxyId
from meshplane.publication.layout import pointer_key
from meshplane.publication.pointer import Pointer, pointer_from_document
from meshplane.snapshot.snapshot import Snapshot


class DirSource:
    """A SnapshotSource over the bucket's layout in a directory, read with plain `os` calls."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)

    def pointer(self, proxy: ProxyId) -> Pointer | None:
        try:
            with open(os.path.join(self.root, pointer_key(proxy)), "rb") as stored:
                return pointer_from_document(stored.read())
        except FileNotFoundError:
            return None

    def fetch(self, pointer: Pointer) -> Snapshot:
        with open(os.path.join(self.root, pointer.key), "rb") as stored:
            return Snapshot.loads(stored.read())

    def recent_proxies(self, limit: int) -> list[ProxyId]:
        return []


def _lines(fifo: str, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str]) -> None:
    """In a thread: every node id written to the FIFO (opened read-write, so it never sees an end)."""
    with os.fdopen(os.open(fifo, os.O_RDWR), "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                loop.call_soon_threadsafe(queue.put_nowait, line.decode())


async def serve(root: Path, fifo: str) -> None:
    options = AdsOptions(host="127.0.0.1", port=0, resync_seconds=3600, grace_seconds=0.5, retain_nodes=20000,
                         preload=False)
    service = AdsService(DirSource(root), options)
    port = await service.start()
    queue: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    reader = loop.run_in_executor(None, _lines, fifo, loop, queue)
    print(f"ready {port}", flush=True)
    refreshes: set[asyncio.Task[object]] = set()
    taken = [0]

    async def consume() -> None:
        while True:
            node = await queue.get()
            taken[0] += 1
            task = asyncio.ensure_future(service.cache.published(ProxyId.parse(node)))
            refreshes.add(task)
            task.add_done_callback(refreshes.discard)

    consumer = asyncio.ensure_future(consume())
    while (command := (await asyncio.to_thread(sys.stdin.readline)).strip()) not in ("", "quit"):
        if command.startswith("settle "):  # the given number of events taken, and the idle refreshes put off done
            while taken[0] < int(command.split()[1]) or not queue.empty() or refreshes:
                await asyncio.sleep(0.05)
            await service.cache.caught_up()
            print("settled", flush=True)
    consumer.cancel()
    del reader  # the thread ends with the process
    await service.stop()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]), sys.argv[2]))
