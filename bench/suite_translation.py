"""Translation speed: per-proxy render time, whole-mesh time and the scaling curve.

Whole mesh = `translate` for every proxy of a synthetic mesh (100 / 1,000 /
5,000 virtual nodes, 5 backends, 2-10 endpoints each), one core, one process.
The cluster targets are checked on a single proxy holding N egress clusters
(the "fat proxy" of `meshgen.fat_proxy_mesh`), which is what "1,000 clusters
rendered" means for one Envoy.
"""

from __future__ import annotations

import time

import meshgen
from common import Profile, Suite, median, require, timed
from targets import TRANSLATION_MS


def _whole_mesh(suite: Suite, nodes: int, repeats: int) -> dict[str, object]:
    translate = require("meshplane.translate", "translate").translate
    graph = require("meshplane.graph", "proxies")
    from meshplane.snapshot.types import XdsType

    state = meshgen.build_mesh(meshgen.MeshShape(nodes))
    proxies = graph.proxies(state)
    translate(state, proxies[0])  # first call pays lazy imports; not part of the steady number
    per_proxy: list[float] = []
    totals: list[float] = []
    clusters = 0
    for _ in range(repeats):
        started = time.perf_counter()
        clusters = 0
        for proxy in proxies:
            t0 = time.perf_counter()
            snap = translate(state, proxy)
            per_proxy.append(time.perf_counter() - t0)
            clusters += len(snap.of(XdsType.CLUSTERS))
        totals.append(time.perf_counter() - started)
    whole = median(totals)
    suite.add(f"whole mesh, {nodes:,} nodes", whole * 1000, "ms", note=f"median of {repeats}, {clusters:,} clusters")
    return {
        "virtual nodes": nodes,
        "proxies": len(proxies),
        "clusters rendered": clusters,
        "whole mesh ms (median)": whole * 1000,
        "per proxy ms (median)": median(per_proxy) * 1000,
        "per proxy ms (max)": max(per_proxy) * 1000,
        "µs per cluster": whole / clusters * 1e6,
    }


def _fat_proxy(suite: Suite, clusters: int, repeats: int) -> dict[str, object]:
    translate = require("meshplane.translate", "translate").translate
    from meshplane.model.ids import Kind, ProxyId
    from meshplane.snapshot.types import XdsType

    state, client = meshgen.fat_proxy_mesh(clusters)
    proxy = ProxyId(state.name, Kind.VIRTUAL_NODE, client)
    snap = translate(state, proxy)
    rendered = len(snap.of(XdsType.CLUSTERS))
    samples = timed(lambda: translate(state, proxy), repeats)
    value = median(samples)
    target = TRANSLATION_MS.get(clusters)
    suite.add(f"one proxy with {clusters:,} egress clusters (+EDS, LDS, RDS)", value * 1000, "ms",
              target=target, note=f"median of {repeats}; {rendered:,} clusters rendered")
    return {"egress clusters": clusters, "clusters rendered": rendered, "ms (median)": value * 1000,
            "ms (min)": min(samples) * 1000}


def _profile_fat(clusters: int) -> list[dict[str, object]]:
    """Where one fat-proxy translation spends its time (pyinstrument), shown when the target is missed."""
    from meshplane.model.ids import Kind, ProxyId
    from meshplane.translate import translate
    from pyinstrument import Profiler

    state, client = meshgen.fat_proxy_mesh(clusters)
    proxy = ProxyId(state.name, Kind.VIRTUAL_NODE, client)
    translate(state, proxy)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    translate(state, proxy)
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    title = f"pyinstrument (one proxy, {clusters:,} clusters)"
    return [{title: line} for line in text.splitlines()[:45] if line.strip()]


def run(profile: Profile) -> Suite:
    suite = Suite("translation")
    require("meshplane.translate", "translate")
    mesh_sizes = profile.pick([100, 1000, 5000], [100, 1000], [20])
    mesh_repeats = profile.pick(3, 1, 1)
    suite.tables["whole mesh (every proxy translated, one core)"] = [
        _whole_mesh(suite, n, mesh_repeats if n < 5000 else 1) for n in mesh_sizes
    ]
    fat_sizes = profile.pick([1000, 10000], [1000], [50])
    suite.tables["one proxy, N clusters"] = [_fat_proxy(suite, n, profile.pick(5 if n < 10000 else 3, 3, 2))
                                             for n in fat_sizes]
    missed = [m for m in suite.metrics if m.met is False]
    if missed and profile.name != "tiny":
        suite.tables["profile of the missed target"] = _profile_fat(fat_sizes[0])
    return suite
