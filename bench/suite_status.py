"""Proxy status writes under churn: 1,000 Envoys acknowledging config changes, and what reaches DynamoDB.

The ADS server's own status path runs for real, in real time: one `StatusWriter` (coalescer and store edge) on an
event loop, a `StreamReport` per Envoy fed the ACKs, NACKs, connects and disconnects a churning mesh produces, and
`ProxyStatusStore` writing to DynamoDB (moto, in process).  Each Envoy takes a new config every `CHANGE_EVERY_S` on
average (ACKs of CDS, EDS, LDS and RDS 10 ms apart), 1 % of them reconnect every second, and one random Envoy NACKs
every second.  What the table receives is counted at the store edge: items, calls, and for each NACK the time from
the protocol's report to the end of the write that carried it.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
from collections.abc import Sequence
from typing import Any

from common import Profile, Suite, percentile, require
from targets import STATUS_NACK_MS, STATUS_WRITES_PER_S

ENVOYS = 1000
CHANGE_EVERY_S = 2.0
ACK_GAP_S = 0.01
RECONNECT_SHARE_PER_S = 0.01
TYPES = ("clusters", "endpoints", "listeners", "routes")


class CountingStore:
    """The real store, with every write counted (items, calls, when) and each NACK's latency taken."""

    def __init__(self, store: Any, nacked_at: dict[Any, float]) -> None:
        self._store = store
        self._nacked_at = nacked_at  # each Nack not yet written -> when the protocol reported it
        self.items: list[float] = []  # the time of each item written
        self.calls = 0
        self.nack_ms: list[float] = []

    def put(self, statuses: Sequence[Any]) -> int:
        calls = int(self._store.put(statuses))
        self._done(statuses, calls)
        return calls

    def disconnect(self, status: Any) -> bool:
        written = bool(self._store.disconnect(status))
        self._done([status], 1)
        return written

    def _done(self, statuses: Sequence[Any], calls: int) -> None:
        now = time.monotonic()
        self.calls += calls
        self.items += [now] * len(statuses)
        for status in statuses:
            started = self._nacked_at.pop(status.nack, None) if status.nack is not None else None
            if started is not None:
                self.nack_ms.append((now - started) * 1000)


def _views(prepared: Any, snapshot_type: Any, xds: Any) -> list[Any]:
    """Two small published views to alternate between, so every change is a new version of every type."""
    from envoy.config.cluster.v3.cluster_pb2 import Cluster
    from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
    from envoy.config.listener.v3.listener_pb2 import Listener
    from envoy.config.route.v3.route_pb2 import RouteConfiguration

    views = []
    for generation in (1, 2):
        resources = {
            xds.CLUSTERS: {"c": Cluster(name="c", type=Cluster.EDS, connect_timeout={"seconds": generation})},
            xds.ENDPOINTS: {"c": ClusterLoadAssignment(cluster_name=f"c{generation}")},
            xds.LISTENERS: {"l": Listener(name="l", stat_prefix=f"l{generation}")},
            xds.ROUTES: {"r": RouteConfiguration(name="r", validate_clusters={"value": generation > 1})},
            xds.SECRETS: {},
        }
        views.append(prepared.PreparedSnapshot.of(snapshot_type.build("mesh/m/virtualNode/n", resources)))
    return views


async def _churn(writer: Any, reports: list[Any], views: list[Any], xds: Any, seconds: float,
                 nacked_at: dict[Any, float], counts: dict[str, int]) -> None:  # fmt: skip
    """Drive every Envoy for `seconds`: changes with their ACKs, reconnects and NACKs, as a server's streams would."""
    rng = random.Random(17)
    loop = asyncio.get_running_loop()
    kinds = [xds(t) for t in TYPES]
    generation = [0] * len(reports)
    start = time.monotonic()
    due = [(start + rng.uniform(0, CHANGE_EVERY_S), i) for i in range(len(reports))]
    heapq.heapify(due)
    end, next_tick = start + seconds, start
    while (now := time.monotonic()) < end:
        while due[0][0] <= now:
            _, i = heapq.heappop(due)
            generation[i] += 1
            view = views[generation[i] % 2]
            reports[i].view(view, view)
            for n, kind in enumerate(kinds):
                loop.call_later(n * ACK_GAP_S, reports[i].acked, kind, view.types[kind].version)
                counts["acks"] += 1
            heapq.heappush(due, (now + rng.expovariate(1 / CHANGE_EVERY_S), i))
        if now >= next_tick:
            next_tick += 1.0
            for i in rng.sample(range(len(reports)), int(len(reports) * RECONNECT_SHARE_PER_S)):
                reports[i].closed()
                reports[i] = writer.report(reports[i].status.proxy, _node(reports[i].status.proxy.path, i), "peer")
                counts["reconnects"] += 1
            victim, reported = reports[rng.randrange(len(reports))], time.monotonic()
            victim.nacked(xds.CLUSTERS, "bad", "Proto constraint validation failed: connect_timeout", ["c"])
            assert victim.status.nack is not None
            nacked_at[victim.status.nack] = reported
            counts["nacks"] += 1
        await asyncio.sleep(0.005)


def _node(path: str, i: int) -> Any:
    from envoy.config.core.v3.base_pb2 import Node

    node = Node(id=path)
    node.metadata.update({"BIND_ADDRESS": f"10.0.{i // 250}.{i % 250}"})
    return node


async def _measure(seconds: float, envoys: int) -> tuple[CountingStore, dict[str, int], Any, float, float]:
    import boto3
    from meshplane.delivery import prepared
    from meshplane.delivery.status.writer import StatusWriter
    from meshplane.model.ids import ProxyId
    from meshplane.snapshot.snapshot import Snapshot
    from meshplane.snapshot.types import XdsType
    from meshplane.store import create_table
    from meshplane.store.proxy_status import ProxyStatusStore

    client = boto3.client("dynamodb", region_name="us-east-1")
    create_table(client, "status-bench")
    nacked_at: dict[Any, float] = {}
    store = CountingStore(ProxyStatusStore("status-bench", client), nacked_at)
    writer = StatusWriter(store)
    writer.start()
    views = _views(prepared, Snapshot, XdsType)
    reports = []
    for i in range(envoys):
        proxy = ProxyId.parse(f"mesh/m/virtualNode/n{i % 200}")
        reports.append(writer.report(proxy, _node(proxy.path, i), "peer"))
    counts = {"acks": 0, "reconnects": 0, "nacks": 0}
    connected = time.monotonic()
    await _churn(writer, reports, views, XdsType, seconds, nacked_at, counts)
    churned = time.monotonic()
    await writer.stop()
    return store, counts, writer, connected, churned


def run(profile: Profile) -> Suite:
    require("meshplane.delivery.status.writer", "StatusWriter")
    from meshplane.delivery.status.coalescer import WriteBounds
    from moto import mock_aws

    suite = Suite("status")
    # tiny: two seconds of churn, two NACKs and two rounds of reconnects, all of it before the steady state starts
    seconds = profile.pick(60.0, 20.0, 2.0)
    envoys = profile.pick(ENVOYS, ENVOYS, 100)
    with mock_aws():
        store, counts, writer, started, churned = asyncio.run(_measure(seconds, envoys))
    bounds = WriteBounds()
    # whole seconds from when the connects' writes and the bucket's burst are spent to the churn's end (the
    # shutdown's final flush writes regardless of the bounds)
    settled = started + bounds.settle_seconds + 2
    full = int(churned - settled)
    windows = dict.fromkeys(range(full), 0)
    for t in store.items:
        if settled <= t < settled + full:
            windows[int(t - settled)] += 1
    suite.add("status events offered per second", (counts["acks"] + counts["nacks"] + 2 * counts["reconnects"])
              / seconds, "events/s", note=f"{envoys} Envoys for {seconds:.0f} s: {counts['acks']} ACKs, "
              f"{counts['nacks']} NACKs, {counts['reconnects']} reconnects")  # fmt: skip
    if full > 0:  # a churn too short to settle (the tiny profile) has no steady state to report
        suite.add("items written per second, steady state", sum(windows.values()) / max(full, 1), "items/s",
                  target=STATUS_WRITES_PER_S,
                  note=f"the server's bound is {bounds.writes_per_second:.0f}/s (burst {bounds.burst}); "
                       f"{len(store.items)} items in all, {sum(t >= churned for t in store.items)} of them the "
                       "shutdown's final flush")
        suite.add("items written in the busiest second", max(windows.values(), default=0), "items",
                  note=f"of the {full} whole seconds of the steady state, counted as each write returns (a write the "
                       "loaded event loop or DynamoDB delayed lands in the next second with the one after it)")
    suite.add("DynamoDB calls per second", store.calls / seconds, "calls/s",
              note="BatchWriteItem of up to 25 items, and one conditional PutItem per disconnect")
    suite.add("ACKs per item written", counts["acks"] / max(len(store.items), 1), "x", better="higher",
              note="how many ACKs each write stands for")
    if store.nack_ms:
        suite.add("NACK reported → written, p99", percentile(store.nack_ms, 99), "ms", target=STATUS_NACK_MS,
                  note=f"{len(store.nack_ms)} NACKs written before a later ACK replaced them; median "
                       f"{percentile(store.nack_ms, 50):.0f} ms")
    suite.add("write failures", writer.counts.failures, "count")
    return suite
