"""Proxy status without I/O: what a stream reports on ACK, NACK and disconnect, and how the coalescer bounds writes.

The protocols are the real ones (`SotwProtocol`, `DeltaProtocol`) fed raw requests; the coalescer runs on a fake clock.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import replace
from typing import Any

import pytest
from envoy.config.core.v3.base_pb2 import Node
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.delivery.server.delta import DeltaProtocol
from meshplane.delivery.server.sotw import SotwProtocol
from meshplane.delivery.status.coalescer import Coalescer, WriteBounds
from meshplane.delivery.status.report import StreamReport, instance_of, named_in
from meshplane.model.ids import ProxyId
from meshplane.snapshot.types import XdsType
from meshplane.store.proxy_status import EnvoyStatus

from .rawclient import delta, sotw
from .snapshots import snapshot

NODE = "mesh/m/virtualNode/a"
PROXY = ProxyId.parse(NODE)
CDS, EDS, LDS, RDS, SDS = (k.type_url for k in XdsType)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Sink:
    """Records every offer, as the writer's coalescer would receive them."""

    def __init__(self) -> None:
        self.offers: list[tuple[EnvoyStatus, bool]] = []

    def offer(self, status: EnvoyStatus, *, urgent: bool = False) -> None:
        self.offers.append((status, urgent))

    @property
    def last(self) -> EnvoyStatus:
        return self.offers[-1][0]


def view(**kwargs: object) -> PreparedSnapshot:
    return PreparedSnapshot.of(snapshot(NODE, "a", **kwargs))  # type: ignore[arg-type]


def opened(sink: Sink, connection: str = "r-1") -> StreamReport:
    node = Node(id=NODE)
    node.metadata.update({"BIND_ADDRESS": "127.0.0.9"})
    return StreamReport.opened(sink, PROXY, node, "ipv4:127.0.0.9:5000", connection, clock=Clock())


def ack_everything(protocol: SotwProtocol, v: PreparedSnapshot) -> None:
    """Subscribe to every type and ACK each response, as Envoy does on a fresh stream."""
    for url, subscription in ((CDS, ()), (LDS, ()), (EDS, ("cds_a_1", "cds_a_2")), (RDS, ("rds_a_1", "rds_a_2")),
                              (SDS, ("secret_a",))):  # fmt: skip
        for out in protocol.on_request(sotw(url, NODE, names=subscription), v):
            from envoy.service.discovery.v3.discovery_pb2 import DiscoveryResponse

            sent = DiscoveryResponse.FromString(out)
            protocol.on_request(sotw(sent.type_url, names=subscription, version=sent.version_info, nonce=sent.nonce),
                                v)  # fmt: skip


class TestStreamReport:
    def test_a_connect_is_offered_with_the_instance_the_node_names_and_its_peer(self) -> None:
        sink = Sink()
        opened(sink)
        status = sink.last
        assert (status.connected, status.instance, status.peer, status.delivery) == (True, "127.0.0.9",
                                                                                    "ipv4:127.0.0.9:5000", "ads")
        assert status.key == ("STATUS#m/virtualNode/a", "127.0.0.9")

    def test_acks_of_every_type_make_the_published_version_applied_and_give_each_type_its_version(self) -> None:
        sink, v = Sink(), view()
        report = opened(sink)
        protocol = SotwProtocol(NODE, Metrics())
        protocol.status = report
        report.view(v, v)
        ack_everything(protocol, v)
        status = sink.last
        assert status.applied == v.version
        assert status.acked == {k.value: v.types[k].version for k in XdsType}
        assert status.nack is None
        assert not any(urgent for _, urgent in sink.offers)

    def test_a_served_view_rewritten_for_the_stream_is_reported_in_published_versions(self) -> None:
        sink, published, served = Sink(), view(), view(endpoints=("10.9.9.9",))
        report = opened(sink)
        protocol = SotwProtocol(NODE, Metrics())
        protocol.status = report
        report.view(published, served)
        ack_everything(protocol, served)
        assert sink.last.applied == published.version
        assert sink.last.acked[XdsType.ENDPOINTS.value] == published.types[XdsType.ENDPOINTS].version

    def test_a_sotw_nack_carries_envoys_message_the_rejected_version_and_the_resources_it_names(self) -> None:
        sink, old, new = Sink(), view(), view(route_version=2)
        report = opened(sink)
        protocol = SotwProtocol(NODE, Metrics())
        protocol.status = report
        report.view(old, old)
        ack_everything(protocol, old)
        report.view(new, new)
        from envoy.service.discovery.v3.discovery_pb2 import DiscoveryResponse

        pushed = DiscoveryResponse.FromString(protocol.on_change([XdsType.ROUTES], new)[0])
        message = "Error adding/updating route configuration(s) rds_a_2: Proto constraint validation failed"
        protocol.on_request(sotw(RDS, names=("rds_a_1", "rds_a_2"), version=old.types[XdsType.ROUTES].version,
                                 nonce=pushed.nonce, error=message), new)  # fmt: skip
        status, urgent = sink.offers[-1]
        assert urgent
        assert status.nack is not None
        assert (status.nack.type_url, status.nack.version, status.nack.message, status.nack.resource_names) == (
            RDS, new.types[XdsType.ROUTES].version, message, ("rds_a_2",))
        assert status.applied == old.version, "the last version Envoy applied whole"
        assert status.acked[XdsType.ROUTES.value] == old.types[XdsType.ROUTES].version

    def test_a_delta_nack_and_the_ack_of_a_later_version_which_clears_it(self) -> None:
        from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryResponse

        sink, old, new = Sink(), view(), view(route_version=2)
        report = opened(sink)
        protocol = DeltaProtocol(NODE, Metrics())
        protocol.status = report
        report.view(old, old)
        first = DeltaDiscoveryResponse.FromString(protocol.on_request(delta(RDS, NODE, subscribe=("rds_a_1",)), old)[0])
        protocol.on_request(delta(RDS, nonce=first.nonce), old)
        assert sink.last.acked == {"routes": old.types[XdsType.ROUTES].version}
        report.view(new, new)
        pushed = DeltaDiscoveryResponse.FromString(protocol.on_change([XdsType.ROUTES], new)[0])
        protocol.on_request(delta(RDS, nonce=pushed.nonce, error="route rds_a_1 is invalid"), new)
        assert sink.last.nack is not None and sink.last.nack.resource_names == ("rds_a_1",)
        assert sink.offers[-1][1], "a NACK is urgent"
        back = view()  # the good routes published again: a version Envoy accepts
        report.view(back, back)
        again = DeltaDiscoveryResponse.FromString(protocol.on_change([XdsType.ROUTES], back)[0])
        protocol.on_request(delta(RDS, nonce=again.nonce), back)
        assert sink.last.nack is None
        assert sink.last.acked["routes"] == back.types[XdsType.ROUTES].version

    def test_a_disconnect_is_offered_as_not_connected_for_the_same_connection(self) -> None:
        sink = Sink()
        opened(sink, "r-7").closed()
        assert (sink.last.connected, sink.last.connection) == (False, "r-7")

    def test_the_instance_is_the_ecs_task_when_the_node_names_one_else_the_peer(self) -> None:
        node = Node(id=NODE)
        assert instance_of(node, "ipv4:10.0.0.1:4242") == "10.0.0.1:4242"
        node.metadata.update({"ecsTaskArn": "arn:aws:ecs:us-east-1:1:task/c/0abc", "BIND_ADDRESS": "10.0.0.1"})
        assert instance_of(node, "ipv4:10.0.0.1:4242") == "0abc"

    def test_only_whole_names_count_as_named(self) -> None:
        assert named_in("cluster cds_a_10 rejected", ["cds_a_1", "cds_a_10"]) == ("cds_a_10",)


def status(i: int, connection: str = "c", **changes: object) -> EnvoyStatus:
    base = EnvoyStatus(ProxyId.parse(f"mesh/m/virtualNode/n{i % 100}"), f"mesh/m/virtualNode/n{i % 100}",
                       f"i{i}", connection, "ads")  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def coalescer(clock: Clock, **bounds: float) -> Coalescer:
    return Coalescer(WriteBounds(**bounds), clock=clock, wall=clock)  # type: ignore[arg-type]


class TestCoalescer:
    def test_a_burst_of_acks_of_one_envoy_is_one_write_after_the_settle_time(self) -> None:
        clock = Clock()
        c = coalescer(clock)
        for n in range(5):
            c.offer(status(1, acked={"clusters": str(n)}))
        assert c.take() == []
        clock.now += c.bounds.settle_seconds
        taken = c.take()
        assert [s.acked for s in taken] == [{"clusters": "4"}], "the latest state wins"

    def test_1000_envoys_churning_for_half_a_minute_write_within_both_bounds(self) -> None:
        """1000 Envoys each ACK every 0.5 s to 2 s for 30 s (~24k ACKs). Bounds: each Envoy at most once per
        interval (10 s: 4 writes in 30 s counting the first), the server at most 25/s plus its burst of 25."""
        clock, rng = Clock(), random.Random(7)
        c = coalescer(clock)
        writes: dict[str, int] = {}
        acks, start = 0, clock.now
        envoys = [status(i) for i in range(1000)]
        upcoming = sorted((clock.now + rng.uniform(0.5, 2.0), i) for i in range(1000))
        while clock.now < start + 30:
            clock.now += 0.05
            while upcoming[0][0] <= clock.now:
                _, i = heapq.heappop(upcoming)
                c.offer(replace(envoys[i], acked={"clusters": str(acks)}))
                acks += 1
                heapq.heappush(upcoming, (clock.now + rng.uniform(0.5, 2.0), i))
            for written in c.take():
                writes[written.instance] = writes.get(written.instance, 0) + 1
        total = sum(writes.values())
        assert acks > 20_000
        assert total <= 25 * 30 + 25, total
        assert max(writes.values()) <= 4
        assert total >= 25 * 30 * 0.9, "the budget is used, not starved"

    def test_an_envoy_acking_every_half_second_is_written_once_per_interval(self) -> None:
        """10 Envoys (the server's budget never binds) ACK every 0.5 s for 30 s: each is written at most 4 times
        (its first write, then once per 10 s interval), however many ACKs it sends."""
        clock = Clock()
        c = coalescer(clock)
        writes: dict[str, int] = {}
        for step in range(60):
            for i in range(10):
                c.offer(status(i, acked={"clusters": str(step)}))
            for _ in range(10):
                clock.now += 0.05
                for written in c.take():
                    writes[written.instance] = writes.get(written.instance, 0) + 1
        assert len(writes) == 10 and max(writes.values()) <= 4, writes

    def test_a_nack_goes_ahead_of_a_backlog_and_is_written_within_the_deadline(self) -> None:
        """The budget is spent on 1000 due ACK states; a NACK offered then is taken at the next token (1/25 s)."""
        clock = Clock()
        c = coalescer(clock)
        for i in range(1000):
            c.offer(status(i))
        clock.now += 2
        assert len(c.take()) == 25
        c.offer(status(5000, nack=None, acked={"x": "1"}), urgent=True)
        deadline, taken = clock.now + 1.0, []
        while clock.now < deadline and not taken:
            clock.now += 0.01
            taken = [s for s in c.take() if s.instance == "i5000"]
        assert taken, "the NACK was not written within a second behind 975 due states"
        assert c.next_due() is not None

    def test_a_connected_envoy_is_rewritten_every_heartbeat_and_a_disconnected_one_is_dropped(self) -> None:
        clock = Clock()
        c = coalescer(clock, heartbeat_seconds=300.0)
        c.offer(status(1))
        clock.now += 1
        assert len(c.take()) == 1
        clock.now += 299
        assert c.take() == []
        clock.now += 1
        (beat,) = c.take()
        assert beat.seen == clock.now
        c.offer(status(1, connected=False))
        clock.now += 11
        (gone,) = c.take()
        assert not gone.connected
        assert len(c) == 0 and c.next_due() is None

    def test_a_disconnect_of_a_connection_the_envoy_already_replaced_is_ignored(self) -> None:
        clock = Clock()
        c = coalescer(clock)
        c.offer(status(1, connection="old"))
        c.offer(status(1, connection="new"))
        c.offer(status(1, connection="old", connected=False))
        clock.now += 1
        (written,) = c.take()
        assert (written.connection, written.connected) == ("new", True)

    def test_a_failed_write_is_offered_again_unless_a_newer_state_came(self) -> None:
        clock = Clock()
        c = coalescer(clock)
        c.offer(status(1, acked={"clusters": "1"}))
        clock.now += 1
        lost = c.take()
        c.failed(lost)
        clock.now += 10
        assert [s.acked for s in c.take()] == [{"clusters": "1"}]


class Store:
    """The store edge, recording what it is asked to write."""

    def __init__(self) -> None:
        self.put_items: list[EnvoyStatus] = []
        self.disconnected: list[EnvoyStatus] = []

    def put(self, statuses: list[EnvoyStatus]) -> int:
        self.put_items += statuses
        return 1

    def disconnect(self, status: EnvoyStatus) -> bool:
        self.disconnected.append(status)
        return True


class TestAgentReport:
    def test_an_apply_is_written_after_the_settle_time_a_failure_on_its_poll_and_a_stop_as_a_disconnect(self) -> None:
        from meshplane.delivery.status.agent import APPLY_FAILED, AgentReport
        from meshplane.publication.pointer import Pointer

        clock, store = Clock(), Store()
        report = AgentReport(store, PROXY, "task-1", coalescer(clock), clock=clock)
        report.applied(Pointer("v1", "k", versions={"clusters": "c1"}))
        report.flush()
        assert store.put_items == []
        clock.now += 1
        report.flush()
        (applied,) = store.put_items
        assert (applied.applied, applied.acked, applied.delivery, applied.instance) == ("v1", {"clusters": "c1"},
                                                                                        "file", "task-1")
        clock.now += 1  # an Envoy's NACKs are spaced a second apart at least; this one comes later
        report.failed(Pointer("v2", "k2"), OSError("no space left on device"))
        failed = store.put_items[-1]
        assert failed.nack is not None and (failed.nack.type_url, failed.nack.version) == (APPLY_FAILED, "v2")
        assert failed.nack.message == "OSError: no space left on device"
        report.stopped()
        assert [s.connected for s in store.disconnected] == [False]

    def test_the_agent_reports_each_version_it_writes_and_each_it_cannot(self, tmp_path: Any) -> None:
        from meshplane.delivery.agent import Agent, FileWriter
        from meshplane.publication.pointer import Pointer

        published = snapshot(NODE, "a")

        class Source:
            def __init__(self) -> None:
                self.version, self.broken = published.version, False

            def pointer(self, proxy: ProxyId, if_none_match: str = "") -> Pointer:
                return Pointer(self.version, "key", versions=dict(published.versions), etag=self.version)

            def fetch(self, pointer: Pointer) -> Any:
                if self.broken:
                    raise OSError("snapshot store unavailable")
                return published

        class Recorder:
            def __init__(self) -> None:
                self.events: list[tuple[str, str]] = []

            def applied(self, pointer: Pointer) -> None:
                self.events.append(("applied", pointer.version))

            def failed(self, pointer: Pointer, error: Exception) -> None:
                self.events.append(("failed", pointer.version))

        source, recorder = Source(), Recorder()
        agent = Agent(source, PROXY, FileWriter(tmp_path), drain_seconds=0, pause_before_routes=0,  # type: ignore[arg-type]
                      status=recorder)  # type: ignore[arg-type]
        agent.sync_once()
        source.version, source.broken = "next", True
        with pytest.raises(OSError):
            agent.sync_once()
        assert recorder.events == [("applied", published.version), ("failed", "next")]
