"""Side by side with sovereign: the same N clusters with endpoints, served by both, in one run.

meshplane: its real ADS server (bench/ads_server.py, own process) over gRPC, SotW.
sovereign: its REST discovery endpoint (own process group), run twice: with one
worker, as meshplane's ADS is one process, and with the worker count of its default
deployment (`peer_sovereign.default_workers`); the smoke test's tiny run starts only
the latter.
Both measured by the same client code (bench/xds_client.py): time to the first
complete CDS+EDS response on a fresh connection, and steady throughput of complete
CDS+EDS fetches with concurrent clients.  meshplane's first response is measured
three ways: another Envoy of the node connected; the first Envoy of the node with
the default warm cache (preloaded, kept after streams close); and a cold load with
the cache off (`--cache-nodes 0`).

Every server is up at once, and the first responses take turns across them, so a
load that drifts during the run (the machine is shared) weighs on all alike; each
sovereign has answered twice per worker before that, so no worker's first request
is timed.  Beside each time, the server CPU it took (every process and thread of
that server, from /proc's scheduler account): under a heavy load a long request is
preempted more often than a short one, which CPU time does not see.  Throughputs
follow, one server at a time.  The servers start side by side and stop side by side
(nothing is timed then), so the run does not wait on their start-ups one after another.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import meshgen
import peer_sovereign
import xds_client
from common import Profile, Suite, ads_server, median, require
from targets import PEER_RATIO

# (label in metric names, workers: None is sovereign's own default)
Settings = tuple[tuple[str, int | None], ...]
SOVEREIGN_SETTINGS: Settings = (("1 worker", 1), ("default workers", None))
# The smoke test's (tiny) one sovereign: its default deployment, the setting that leaves the worker count to
# sovereign and counts them; a second arbiter would cost as much again for a row nobody reads.
TINY_SOVEREIGN_SETTINGS: Settings = SOVEREIGN_SETTINGS[1:]
WAYS = (("node connected", "node already connected"), ("first Envoy of node, warm", "first Envoy of the node"),
        ("cold load", "cold load (--cache-nodes 0)"))  # (way, as meshplane's time names it)
# One ADS server per way: cold (`--cache-nodes 0`), warm (preloaded, no stream of the node), and one whose node
# another Envoy holds open (`xds_client.held_stream`).
MESHPLANE_CACHES = (("cold load", "cold"), ("first Envoy of node, warm", "preload"), ("node connected", "preload"))


Target = tuple[type, tuple]  # a client class and its arguments


def _fetch(target: Target, node: str, names: list[str]) -> xds_client.Fetch:
    client_cls, args = target
    client = client_cls(*args)
    try:
        return client.fetch(node, names)  # type: ignore[no-any-return]
    finally:
        client.close()


def _ready(target: Target, node: str, names: list[str], fetches: int) -> None:
    """`fetches` complete fetches in a row, each on a fresh connection (so every worker answers some)."""
    deadline = time.monotonic() + 180
    done = 0
    while done < fetches:
        try:
            _fetch(target, node, names)
            done += 1
        except (RuntimeError, OSError):
            if time.monotonic() > deadline:
                raise
            done = 0
            time.sleep(0.5)


@contextmanager
def _side_by_side(managers: dict[str, AbstractContextManager[Any]]) -> Iterator[dict[str, Any]]:
    """Enter every manager at once, one thread each, and exit them all at once afterwards: servers that start
    (and stop) side by side rather than one after another.  Each one that entered is exited, even when another
    failed to start or the run was interrupted meanwhile."""
    pool = ThreadPoolExecutor(len(managers))
    futures = {label: pool.submit(manager.__enter__) for label, manager in managers.items()}
    entered: list[str] = []
    try:
        try:
            wait(futures.values())
        finally:
            pool.shutdown(wait=True)
            entered = [label for label, future in futures.items() if future.exception() is None]
        yield {label: future.result() for label, future in futures.items()}  # the first failure, if any, raises
    finally:
        with ThreadPoolExecutor(max(1, len(entered))) as stopping:
            exits = [stopping.submit(managers[label].__exit__, None, None, None) for label in entered]
        for done in exits:
            done.result()


def _cpu_ms(pids: list[int]) -> float:
    """CPU time the processes have run so far, every thread, from the scheduler's nanosecond account."""
    total = 0
    for pid in pids:
        for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue  # a thread that ended meanwhile
    return total / 1e6


def _firsts(targets: dict[str, Target], pids: dict[str, Callable[[], list[int]]], node: str, names: list[str],
            rounds: int) -> dict[str, dict[str, list[float]]]:
    """Each target's time to a complete CDS+EDS on a fresh connection and the server CPU it took (the
    others are idle meanwhile), the targets taking turns (rotated each round), so the machine's load
    drifting during a run weighs on every server alike."""
    out: dict[str, dict[str, list[float]]] = {label: {"ms": [], "cpu": []} for label in targets}
    order = list(targets)
    for turn in range(rounds):
        for label in order[turn % len(order):] + order[: turn % len(order)]:
            processes = pids[label]()
            before = _cpu_ms(processes)
            out[label]["ms"].append(_fetch(targets[label], node, names).seconds * 1000)
            out[label]["cpu"].append(_cpu_ms(processes) - before)
    return out


def _throughput(target: Target, node: str, names: list[str], verify: object, expect: int,
                profile: Profile) -> dict[str, float]:
    fetch = _fetch(target, node, names)
    clusters, assignments, _endpoints = verify(fetch)  # type: ignore[operator]
    if assignments != expect or clusters < expect:
        raise RuntimeError(f"incomplete response: {clusters} clusters, {assignments} assignments, want {expect}")
    rate, count = xds_client.throughput(target[0], target[1], node, names, workers=4,
                                        seconds=profile.pick(10.0, 3.0, 0.3))
    return {"fetches/s": rate, "fetches": count, "CDS bytes": len(fetch.cds), "EDS bytes": len(fetch.eds)}


def _quit(server: object) -> None:
    server.stdin.write("quit\n")  # type: ignore[attr-defined]
    server.stdin.flush()  # type: ignore[attr-defined]


def _measure(size: int, data: list[dict[str, object]], node: str, profile: Profile,
             settings: Settings) -> dict[str, dict[str, float]]:
    """Every server up at once: sovereign at each setting, meshplane cold, warm, and with the node connected."""
    names = [str(d["name"]) for d in data]
    peer_sovereign.ensure_venv()  # once, before the sovereigns start side by side
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        starting: dict[str, AbstractContextManager[Any]] = {}
        for setting, workers in settings:
            workdir = Path(tmp) / setting.replace(" ", "-")
            workdir.mkdir()
            starting[setting] = peer_sovereign.running(workdir, data, workers)
        for way, cache in MESHPLANE_CACHES:
            starting[way] = ads_server("fat", size, cache)
        with _side_by_side(starting) as started:
            targets: dict[str, Target] = {}
            pids: dict[str, Callable[[], list[int]]] = {}
            sovereigns = {setting: started[setting] for setting, _workers in settings}
            for setting, workers in settings:
                targets[setting] = (xds_client.SovereignClient, ("127.0.0.1", sovereigns[setting].port))
                pids[setting] = sovereigns[setting].pids
                _ready(targets[setting], node, names, 2 * (workers or peer_sovereign.default_workers()))
            servers = {}
            for way, _cache in MESHPLANE_CACHES:
                servers[way], port = started[way]
                targets[way] = (xds_client.AdsClient, (f"127.0.0.1:{port}",))
                pids[way] = functools.partial(list, (servers[way].pid,))
            with xds_client.held_stream(targets["node connected"][1][0], node):
                firsts = _firsts(targets, pids, node, names, profile.pick(5, 3, 2))
                out = {label: {"first ms": median(got["ms"]), "server CPU ms": median(got["cpu"])}
                       for label, got in firsts.items()}
                out["node connected"] |= _throughput(targets["node connected"], node, names, xds_client.verify_ads,
                                                     len(names), profile)
                for setting, sov in sovereigns.items():
                    out[setting] |= {**_throughput(targets[setting], node, names, xds_client.verify_sovereign,
                                                   len(names), profile), "workers": sov.workers()}
                for server in servers.values():
                    _quit(server)
    return out


def _add(suite: Suite, size: int, measured: dict[str, dict[str, float]], settings: Settings) -> None:
    n = f"N={size:,}"
    times = {way: measured[way]["first ms"] for way, _label in WAYS}
    for way, label in WAYS:
        suite.add(f"{n}: first complete CDS+EDS, meshplane ADS, {label}", times[way], "ms")
        suite.add(f"{n}: server CPU for it, meshplane ADS, {label}", measured[way]["server CPU ms"], "ms",
                  note="the server process's every thread, while the other servers idled")
    mp = measured["node connected"]
    for setting, _workers in settings:
        sov = measured[setting]
        workers = f"{sov['workers']:.0f} gunicorn worker(s)"
        suite.add(f"{n}: first complete CDS+EDS, sovereign REST, {setting}", sov["first ms"], "ms", note=workers)
        suite.add(f"{n}: server CPU for it, sovereign REST, {setting}", sov["server CPU ms"], "ms",
                  note="the arbiter and every worker, while the other servers idled")
        for way, value in times.items():
            suite.add(f"{n}: first-response speed-up, {way} (sovereign {setting} / meshplane)",
                      sov["first ms"] / value, "x", target=PEER_RATIO, better="higher")
        suite.add(f"{n}: throughput speed-up (meshplane / sovereign {setting})", mp["fetches/s"] / sov["fetches/s"],
                  "x", target=PEER_RATIO, better="higher",
                  note=f"{mp['fetches/s']:.1f} vs {sov['fetches/s']:.2f} complete fetches/s, 4 clients, {workers}")


def run(profile: Profile) -> Suite:
    require("meshplane.delivery.service", "AdsService")
    translate = require("meshplane.translate", "translate").translate
    from meshplane.model.ids import Kind, ProxyId

    suite = Suite("peer")
    settings = profile.pick(SOVEREIGN_SETTINGS, SOVEREIGN_SETTINGS, TINY_SOVEREIGN_SETTINGS)
    rows = []
    for size in profile.pick([1000, 10000], [1000], [20]):
        state, client = meshgen.fat_proxy_mesh(size)
        proxy = ProxyId(state.name, Kind.VIRTUAL_NODE, client)
        measured = _measure(size, peer_sovereign.instances(translate(state, proxy)), proxy.path, profile, settings)
        _add(suite, size, measured, settings)
        rows += [{"N": size, "server": f"meshplane ADS, {way}", **measured[way], "workers": 1} for way, _label in WAYS]
        rows += [{"N": size, "server": f"sovereign REST, {setting}", **measured[setting]}
                 for setting, _workers in settings]
    suite.tables["same clusters and endpoints, same client, same run"] = rows
    return suite
