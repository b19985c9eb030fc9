"""What one Envoy's stream says about its config, as the status of that Envoy.

The protocols (`server.sotw`, `server.delta`) tell a stream's `StatusEvents` each ACK and
NACK they accept (not stale ones); the stream tells it when the Envoy connects, which
view it is served, and when it goes.  `StreamReport` turns that into `EnvoyStatus`
states for a `Sink` (the coalescer behind `writer.StatusWriter`).

Versions are reported as meshplane published them: a stream may serve a rewritten view
(local runs rebind addresses, `server.localbind`), whose per-type versions differ, so
each view's versions are mapped back to the published ones.  An Envoy has applied a
snapshot when every type the snapshot has resources of is acknowledged at its version.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Protocol

from envoy.config.core.v3.base_pb2 import Node

from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.delivery.server.sequencing import stripped
from meshplane.model.ids import ProxyId
from meshplane.snapshot.types import XdsType
from meshplane.store.proxy_status import EnvoyStatus, Nack, clipped

MAX_NAMED = 50  # resource names kept from one NACK message


class StatusEvents(Protocol):
    """What the protocols report: an accepted ACK or NACK of one type."""

    def acked(self, kind: XdsType, version: str) -> None: ...

    def nacked(self, kind: XdsType, version: str | None, message: str, names: Iterable[str]) -> None: ...


class _Silent:
    def acked(self, kind: XdsType, version: str) -> None:
        pass

    def nacked(self, kind: XdsType, version: str | None, message: str, names: Iterable[str]) -> None:
        pass


NO_STATUS: StatusEvents = _Silent()


class Sink(Protocol):
    def offer(self, status: EnvoyStatus, *, urgent: bool = False) -> None: ...


def instance_of(node: Node, peer: str) -> str:
    """Which Envoy of its node this is, stable across reconnects where the node says so: its ECS task, else the
    address it binds (meshplane's bootstrap puts both in the node metadata), else the peer address."""
    fields = node.metadata.fields
    task = fields["ecsTaskArn"].string_value if "ecsTaskArn" in fields else ""
    if task:
        return task.rsplit("/", 1)[-1]
    bound = fields["BIND_ADDRESS"].string_value if "BIND_ADDRESS" in fields else ""
    return bound or peer.removeprefix("ipv4:").removeprefix("ipv6:") or "unknown"


def named_in(message: str, names: Iterable[str]) -> tuple[str, ...]:
    """The resource names Envoy's message mentions (it names what it rejected in its own words)."""
    found = [n for n in names if n and re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w.-])", message)]
    return tuple(sorted(found)[:MAX_NAMED])


class StreamReport:
    """One stream's Envoy: its ACKs, NACK and connection, offered to `sink` as they change."""

    def __init__(self, sink: Sink, status: EnvoyStatus, clock: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._clock = clock
        self.status = status
        self._published: dict[XdsType, dict[str, str]] = {kind: {} for kind in XdsType}  # served -> published
        self._packed: dict[XdsType, dict[str, Mapping[str, bytes]]] = {kind: {} for kind in XdsType}  # served version
        self._needed: Mapping[XdsType, str] = {}  # the served view's version of each type it has resources of
        self._view_version = ""
        self._published_version = ""
        self._held: dict[XdsType, str] = {}  # the served version Envoy acknowledged last, per type

    @classmethod
    def opened(cls, sink: Sink, proxy: ProxyId, node: Node, peer: str, connection: str, delivery: str = "ads",
               clock: Callable[[], float] = time.time) -> StreamReport:  # fmt: skip
        now = clock()
        status = EnvoyStatus(proxy, node.id, instance_of(node, peer), connection, delivery, peer,
                             connected_at=now, seen=now)  # fmt: skip
        report = cls(sink, status, clock)
        sink.offer(status)
        return report

    def view(self, published: PreparedSnapshot, served: PreparedSnapshot) -> None:
        """The stream serves `served`, made from `published`."""
        if served.version == self._view_version:
            return
        self._view_version = served.version
        for kind, prepared in served.types.items():
            seen, packed = self._published[kind], self._packed[kind]
            if len(seen) > 16:  # only the current and the previous view's are ever acknowledged
                seen.clear()
                packed.clear()
            seen[prepared.version] = published.types[kind].version
            packed[prepared.version] = prepared.packed
        self._needed = {kind: p.version for kind, p in served.types.items() if p.packed}
        self._published_version = published.version

    def acked(self, kind: XdsType, version: str) -> None:
        served = stripped(version)
        acked = {**self.status.acked, kind.value: self._published[kind].get(served, served)}
        nack = self.status.nack if self.status.nack is None or self.status.nack.type_url != kind.type_url else None
        applied = self.status.applied
        self._held[kind] = served
        if self._needed and all(self._held.get(k) == v for k, v in self._needed.items()):
            applied = self._published_version
        self._offer(replace(self.status, acked=acked, applied=applied, nack=nack, seen=self._clock()))

    def nacked(self, kind: XdsType, version: str | None, message: str, names: Iterable[str]) -> None:
        served = stripped(version or "")
        nack = Nack(kind.type_url, self._published[kind].get(served, served), clipped(message), tuple(names),
                    self._clock(), self._changed(kind, served))  # fmt: skip
        self._offer(replace(self.status, nack=nack, seen=self._clock()), urgent=True)

    def _changed(self, kind: XdsType, refused: str) -> tuple[str, ...]:
        """The resources of the refused version that the version Envoy holds lacks or has otherwise."""
        packed = self._packed[kind]
        new, held = packed.get(refused), packed.get(self._held.get(kind, ""), {})
        if new is None:
            return ()
        return tuple(sorted(n for n, body in new.items() if held.get(n) != body)[:MAX_NAMED])

    def closed(self) -> None:
        self._offer(replace(self.status, connected=False, seen=self._clock()))

    def _offer(self, status: EnvoyStatus, *, urgent: bool = False) -> None:
        self.status = status
        self._sink.offer(status, urgent=urgent)


class Recorder(Protocol):
    """Where a server's streams get their reports (`writer.StatusWriter`)."""

    def report(self, proxy: ProxyId, node: Node, peer: str) -> StreamReport: ...
