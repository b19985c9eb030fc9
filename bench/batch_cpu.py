"""The CPU of a batch of translations under the settings it could run with: `python bench/batch_cpu.py NODES`.

Two comparisons, each setting taking turns with the others in one process, so every setting
meets the same machine state.

The whole mesh of NODES nodes (`meshgen`, as the translation suite builds it) translated on one
thread, five times with the cyclic collector paused over the batch (`meshplane.gc_pause`, as
the inline recompute runs) and five times paused only while each proxy is translated; the median
CPU milliseconds of each.

A shard: the hot suite's pipeline (`suite_hot_pipeline.py`: the shard code over stores kept in
memory) publishes a mesh of NODES nodes, applies its hot route change, and runs the change's
shards of 100 one after the other, each under one of these settings in turn:
- `as shipped`: the shard's 25 publishing threads, the cyclic collector paused over the shard;
- `one thread`: the same on one publishing thread;
- `collector per translation`: 25 threads, the collector paused only while each proxy is
  translated, as before the shard paused it (`meshplane.gc_pause`).
The stores answer at once here, so threads overlap no latency, as they do in AWS.  It prints one
JSON object: both comparisons, a shard's as the shards each setting ran and their median CPU
milliseconds per proxy.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import suite_hot_pipeline as hot


@contextlib.contextmanager
def _setting(worker: Any, threads: int, per_translation: bool) -> Iterator[None]:
    import meshplane.pipeline.shards as shards

    paused, kept_threads = shards.collector_paused, worker._threads
    worker._threads = threads
    if per_translation:  # translate() still pauses the collector around itself
        shards.collector_paused = contextlib.nullcontext  # type: ignore[assignment]
    try:
        yield
    finally:
        shards.collector_paused, worker._threads = paused, kept_threads


SETTINGS: dict[str, Callable[[Any], contextlib.AbstractContextManager[None]]] = {
    "as shipped": lambda worker: _setting(worker, hot.IO_THREADS, per_translation=False),
    "one thread": lambda worker: _setting(worker, 1, per_translation=False),
    "collector per translation": lambda worker: _setting(worker, hot.IO_THREADS, per_translation=True),
}


def whole_mesh(nodes: int, repeats: int = 5) -> dict[str, float]:
    """Median CPU ms of translating every proxy, the collector paused over the batch or per translation."""
    import dataclasses

    import meshgen
    from meshplane.gc_pause import collector_paused
    from meshplane.graph import proxies
    from meshplane.translate import translate

    state = meshgen.build_mesh(meshgen.MeshShape(nodes))
    everyone = proxies(state)
    translate(state, everyone[0])  # lazy imports: not part of either
    samples: dict[str, list[float]] = {"collector paused over the batch": [], "collector per translation": []}
    for i in range(2 * repeats):
        name = list(samples)[i % 2]
        fresh = dataclasses.replace(state)  # nothing shared from the run before
        started = time.process_time()
        with collector_paused() if i % 2 == 0 else contextlib.nullcontext():
            for proxy in everyone:
                translate(fresh, proxy)
        samples[name].append((time.process_time() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def shards(nodes: int, shard_size: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.txt"
        events.touch()
        hot.WORLD = world = hot.world(hot.hot_states(nodes), Path(tmp), str(events), shard_size)
        world.recomputer.recompute("bench", full=True)
        bodies, _ = hot.plan_change(world)
        hot.run_shard(bodies[0])  # the first shard pays what a warm container has paid already
        per_proxy: dict[str, list[float]] = {name: [] for name in SETTINGS}
        names = list(SETTINGS)
        for i, body in enumerate(bodies[1:]):
            name = names[i % len(names)]
            with SETTINGS[name](world.worker):
                run = hot.run_shard(body)
            per_proxy[name].append(run["cpu"] * 1000 / run["proxies"])
    return {name: {"shards": len(values), "CPU ms per proxy (median)": statistics.median(values)}
            for name, values in per_proxy.items() if values}


if __name__ == "__main__":
    size = int(sys.argv[1])
    print(json.dumps({"nodes": size, "whole mesh, CPU ms (median of 5)": whole_mesh(size),
                      "shard, by setting": shards(size, 100)}))
