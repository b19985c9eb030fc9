"""Translation speed: per-proxy render time, whole-mesh time and the scaling curve.

Whole mesh = `translate` for every proxy of a synthetic mesh (100 / 1,000 /
5,000 virtual nodes, 5 backends, 2-10 endpoints each), one core, one process.
The cluster targets are checked on a single proxy holding N egress clusters
(the "fat proxy" of `meshgen.fat_proxy_mesh`), which is what "1,000 clusters
rendered" means for one Envoy.

The translator shares what proxies of one mesh state have in common (`translate.cache`,
kept per state object).  Every timed run therefore starts from a fresh copy of the state,
as a recompute that loads the mesh does: the fat proxy is timed as the first proxy of its
state, with nothing shared yet (it keeps nothing for later proxies either: the caches fill from
the second), and each whole-mesh repeat starts empty.  The fat proxy translated again from a
state whose caches hold it is recorded beside it, without a target.  A whole mesh
pauses the cyclic collector over all of its proxies, as a recompute or a shard does
(`meshplane.gc_pause`), and its time includes the collection that follows.

"One core" is measured as this process's CPU time (`time.process_time`; translation is
single-threaded), with the wall clock beside it: on a machine whose cores are shared the
wall clock also counts the time the scheduler gave to others.  The floor is what the
translator cannot beat: bare xds-protos building and serialising the same N Clusters and
ClusterLoadAssignments (EDS, 4 endpoints each) and nothing else, timed the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable

import meshgen
from common import Profile, Suite, median, require
from targets import TRANSLATION_MESH_MS, TRANSLATION_MS


def _whole_mesh(suite: Suite, nodes: int, repeats: int) -> dict[str, object]:
    translate = require("meshplane.translate", "translate").translate
    graph = require("meshplane.graph", "proxies")
    from meshplane.gc_pause import collector_paused
    from meshplane.snapshot.types import XdsType

    state = meshgen.build_mesh(meshgen.MeshShape(nodes))
    proxies = graph.proxies(state)
    translate(state, proxies[0])  # first call pays lazy imports; not part of the steady number
    per_proxy: list[float] = []
    totals: list[float] = []
    walls: list[float] = []
    clusters = 0
    for _ in range(repeats):
        fresh = dataclasses.replace(state)  # nothing shared from the previous repeat
        started, wall = time.process_time(), time.perf_counter()
        clusters = 0
        with collector_paused():  # over the batch, as a recompute or a shard runs it; its collection is timed
            for proxy in proxies:
                t0 = time.process_time()
                snap = translate(fresh, proxy)
                per_proxy.append(time.process_time() - t0)
                clusters += len(snap.of(XdsType.CLUSTERS))
        totals.append(time.process_time() - started)
        walls.append(time.perf_counter() - wall)
    whole = median(totals)
    suite.add(f"whole mesh, {nodes:,} nodes", whole * 1000, "ms", target=TRANSLATION_MESH_MS.get(nodes),
              note=f"CPU time, median of {repeats}, {clusters:,} clusters; wall clock {median(walls) * 1000:,.0f} ms")
    return {
        "virtual nodes": nodes,
        "proxies": len(proxies),
        "clusters rendered": clusters,
        "whole mesh CPU ms (median)": whole * 1000,
        "whole mesh wall ms (median)": median(walls) * 1000,
        "per proxy CPU ms (median)": median(per_proxy) * 1000,
        "µs per cluster": whole / clusters * 1e6,
    }


def _cpu(fn: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def _floor_set(clusters: int) -> list[bytes]:
    """Bare xds-protos: N EDS Clusters and their ClusterLoadAssignments (4 endpoints), built and packed."""
    from envoy.config.cluster.v3.cluster_pb2 import Cluster
    from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
    from google.protobuf import any_pb2

    out = []
    for i in range(clusters):
        name = f"cds_egress_bench_{meshgen.node_name(i)}_http_{meshgen.LISTENER_PORT}"
        cluster = Cluster(name=name, type=Cluster.EDS)
        cluster.connect_timeout.FromMilliseconds(1000)
        cluster.eds_cluster_config.service_name = name
        cluster.eds_cluster_config.eds_config.ads.SetInParent()
        assignment = ClusterLoadAssignment(cluster_name=name)
        locality = assignment.endpoints.add()
        for n in range(4):  # meshgen.endpoints_for's addresses, without building its Endpoint models
            sock = locality.lb_endpoints.add().endpoint.address.socket_address
            sock.address, sock.port_value = f"10.{(i >> 8) & 255}.{i & 255}.{n + 1}", meshgen.LISTENER_PORT
        for message in (cluster, assignment):
            wrapper = any_pb2.Any()
            wrapper.Pack(message, deterministic=True)
            out.append(wrapper.SerializeToString(deterministic=True))
    return out


def _floor(suite: Suite, clusters: int, repeats: int) -> float:
    cpu = median([_cpu(lambda: _floor_set(clusters))[0] for _ in range(repeats)])
    suite.add(f"floor: bare xds-protos, {clusters:,} Clusters + ClusterLoadAssignments", cpu * 1000, "ms",
              note=f"CPU time, median of {repeats}")
    return cpu


def _fat_proxy(suite: Suite, clusters: int, repeats: int) -> dict[str, object]:
    translate = require("meshplane.translate", "translate").translate
    from meshplane.model.ids import Kind, ProxyId
    from meshplane.snapshot.types import XdsType

    state, client = meshgen.fat_proxy_mesh(clusters)
    proxy = ProxyId(state.name, Kind.VIRTUAL_NODE, client)
    snap = translate(state, proxy)  # the state's first proxy keeps nothing for later ones
    translate(state, proxy)  # the second fills the state's caches, which the "again" row below shares
    rendered = len(snap.of(XdsType.CLUSTERS))
    samples, walls = [], []
    for _ in range(repeats):
        fresh = dataclasses.replace(state)  # the first proxy of its state: nothing to share yet
        cpu, wall = _cpu(functools.partial(translate, fresh, proxy))
        samples.append(cpu)
        walls.append(wall)
    value = median(samples)
    floor = _floor(suite, clusters, repeats)
    suite.add(f"one proxy with {clusters:,} egress clusters (+EDS, LDS, RDS)", value * 1000, "ms",
              target=TRANSLATION_MS.get(clusters),
              note=f"CPU time, median of {repeats}, each from a fresh state; {rendered:,} clusters rendered; "
                   f"{value / floor:.1f}x the floor; wall clock {median(walls) * 1000:,.0f} ms")
    warm = median([_cpu(lambda: translate(state, proxy))[0] for _ in range(repeats)])
    suite.add(f"one proxy with {clusters:,} egress clusters, again from the same state", warm * 1000, "ms",
              note=f"CPU time, median of {repeats}: it shares all of its clusters with the proxy before it")
    return {"egress clusters": clusters, "clusters rendered": rendered, "CPU ms (median)": value * 1000,
            "CPU ms (min)": min(samples) * 1000, "wall ms (median)": median(walls) * 1000,
            "floor CPU ms (median)": floor * 1000, "x floor": value / floor,
            "same state again, CPU ms (median)": warm * 1000}


def _profile_fat(clusters: int) -> list[dict[str, object]]:
    """Where one fat-proxy translation spends its time (pyinstrument), shown when the target is missed."""
    from meshplane.model.ids import Kind, ProxyId
    from meshplane.translate import translate
    from pyinstrument import Profiler

    state, client = meshgen.fat_proxy_mesh(clusters)
    proxy = ProxyId(state.name, Kind.VIRTUAL_NODE, client)
    translate(state, proxy)
    fresh = dataclasses.replace(state)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    translate(fresh, proxy)
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
        _whole_mesh(suite, n, mesh_repeats) for n in mesh_sizes
    ]
    fat_sizes = profile.pick([1000, 10000], [1000], [50])
    suite.tables["one proxy, N clusters"] = [_fat_proxy(suite, n, profile.pick(5, 3, 2)) for n in fat_sizes]
    missed = [m for m in suite.metrics if m.met is False]
    if missed and profile.name != "tiny":
        suite.tables["profile of the missed target"] = _profile_fat(fat_sizes[0])
    return suite
