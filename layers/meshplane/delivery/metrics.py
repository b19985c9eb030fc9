"""Counters of the ADS server, read by tests and logged periodically."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from meshplane.snapshot.types import XdsType


@dataclass
class Metrics:
    """Plain counters; the server runs on one event loop so no locking is needed."""

    resources_sent: Counter[XdsType] = field(default_factory=Counter)
    responses_sent: Counter[XdsType] = field(default_factory=Counter)
    nacks: Counter[XdsType] = field(default_factory=Counter)
    acks: Counter[XdsType] = field(default_factory=Counter)
    snapshot_loads: int = 0
    events_received: int = 0
    refreshes_put_off: int = 0  # events for nodes without a stream here, read once the events pause (`idle`)
    streams_open: int = 0
    streams_total: int = 0
    rejected_streams: int = 0
    reconnects_recalled: int = 0  # reconnecting Envoys whose older clusters were read back to drain them
    # The snapshot cache, in `held_bytes` estimates: the idle LRU is what `--cache-mb` bounds.
    cache_idle_nodes: int = 0
    cache_idle_bytes: int = 0
    cache_streamed_nodes: int = 0
    cache_streamed_bytes: int = 0
    cache_evictions: int = 0

    def sent(self, kind: XdsType, count: int) -> None:
        self.responses_sent[kind] += 1
        self.resources_sent[kind] += count

    def as_dict(self) -> dict[str, object]:
        return {
            "resources_sent": {k.value: v for k, v in self.resources_sent.items()},
            "responses_sent": {k.value: v for k, v in self.responses_sent.items()},
            "nacks": {k.value: v for k, v in self.nacks.items()},
            "acks": {k.value: v for k, v in self.acks.items()},
            "snapshot_loads": self.snapshot_loads,
            "events_received": self.events_received,
            "refreshes_put_off": self.refreshes_put_off,
            "streams_open": self.streams_open,
            "streams_total": self.streams_total,
            "rejected_streams": self.rejected_streams,
            "reconnects_recalled": self.reconnects_recalled,
            "cache_idle_nodes": self.cache_idle_nodes,
            "cache_idle_bytes": self.cache_idle_bytes,
            "cache_streamed_nodes": self.cache_streamed_nodes,
            "cache_streamed_bytes": self.cache_streamed_bytes,
            "cache_evictions": self.cache_evictions,
        }
