"""Scoping and speed, measured: a proxy carries only its backends, and rendering stays fast."""

from __future__ import annotations

import time

import pytest
from meshplane.model.ids import Kind, ProxyId
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.translate import translate

from .scale import ring_mesh

# Targets on one core, in CPU time (the test machine is shared, so wall time is not the measure).
TARGET_S = {1_000: 0.075, 10_000: 0.75}
# Slack for a noisy shared machine; the report prints the measured number against the real target.
SLACK = 1.5


def _size(snapshot: Snapshot) -> int:
    return sum(len(message.SerializeToString(deterministic=True)) for _, _, message in snapshot)


def test_one_proxy_config_is_at_most_a_tenth_of_the_unscoped_full_mesh_config() -> None:
    state = ring_mesh(1_000, 5, hub_backends=1_000)
    scoped = _size(translate(state, ProxyId("scale", Kind.VIRTUAL_NODE, "n0")))
    unscoped = _size(translate(state, ProxyId("scale", Kind.VIRTUAL_NODE, "hub")))
    ratio = scoped / unscoped
    print(f"\nscoping: one proxy {scoped} B vs full mesh {unscoped} B = {ratio:.2%} (limit 10%)")
    assert ratio <= 0.10


@pytest.mark.parametrize("clusters", sorted(TARGET_S))
def test_rendering_many_clusters_meets_the_per_core_budget(clusters: int) -> None:
    state = ring_mesh(clusters, 1, hub_backends=clusters)
    hub = ProxyId("scale", Kind.VIRTUAL_NODE, "hub")
    translate(state, hub)  # warm caches and lazily built validators
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        snapshot = translate(state, hub)
        best = min(best, time.process_time() - start)
    rendered = len(snapshot.of(XdsType.CLUSTERS))
    assert rendered >= clusters
    print(f"\nrender: {rendered} clusters in {best * 1000:.0f} ms CPU (target {TARGET_S[clusters] * 1000:.0f} ms)")
    assert best <= TARGET_S[clusters] * SLACK
