"""Incremental work: one endpoint change in a 1,000-node mesh.

Uses the pipeline's own code with the stores left out (their cost is I/O, not
compute): `Recomputer.plan` decides which proxies to rebuild from the dependency
index of the previous publish, `ModuleTranslator.endpoints` renders their EDS,
and the EDS-only snapshot is built the way `Recomputer.rebuild` does (other
types carried over).  Bytes are what delivery would put on the wire for each
affected proxy: SotW sends the whole EDS type, Delta only the changed assignments.
"""

from __future__ import annotations

import time

import meshgen
from common import Profile, Suite, median, require
from targets import INCREMENTAL_BYTES, INCREMENTAL_COMPUTE_MS


def _profile_plan(recomputer: object, state: object, index: object, node: str) -> list[dict[str, object]]:
    """Where `plan` spends its time (pyinstrument), when it is the reason for a miss."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    recomputer.plan(state, index, [], [node])  # type: ignore[attr-defined]
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    return [{"pyinstrument (plan, one endpoint change)": line} for line in text.splitlines()[:40] if line.strip()]


def run(profile: Profile) -> Suite:
    recompute = require("meshplane.pipeline.recompute", "Recomputer")
    ports = require("meshplane.pipeline.ports", "ModuleGraph", "ModuleTranslator")
    prepared = require("meshplane.delivery.prepared", "PreparedSnapshot", "sotw_response")
    from meshplane.model.ids import ProxyId
    from meshplane.snapshot.snapshot import Snapshot
    from meshplane.snapshot.types import XdsType
    from meshplane.store.index import IndexEntry, resource_path

    suite = Suite("incremental")
    nodes = profile.pick(1000, 1000, 30)
    graph, translator = ports.ModuleGraph(), ports.ModuleTranslator()
    state = meshgen.build_mesh(meshgen.MeshShape(nodes))
    proxies = list(graph.proxies(state))
    published = {p: translator.translate(state, p) for p in proxies}
    index = {p.path: IndexEntry(p.path, frozenset(resource_path(k) for k in graph.dependencies(state, p)),
                                graph.endpoint_dependencies(state, p)) for p in proxies}
    recomputer = recompute.Recomputer(loader=None, endpoints=None, graph=graph, translator=translator, pointers=None,
                                      index=None, publisher=None, telemetry=None)
    changed_node = meshgen.node_name(nodes // 2)
    plans, edss, totals = [], [], []
    affected: list[ProxyId] = []
    after = state
    for generation in range(1, profile.pick(5, 3, 2) + 1):
        fresh = meshgen.endpoints_for(nodes // 2, len(state.endpoints[changed_node]) + 1, generation)
        after = meshgen.with_endpoints(state, changed_node, fresh)
        t0 = time.perf_counter()
        plan = recomputer.plan(after, index, [], [changed_node])
        t1 = time.perf_counter()
        rebuilt = {}
        for proxy in sorted(plan.endpoints_only):
            last = published[proxy]
            rebuilt[proxy] = Snapshot.build(proxy.path, {**last.resources,
                                                         XdsType.ENDPOINTS: translator.endpoints(after, proxy)})
        t2 = time.perf_counter()
        plans.append(t1 - t0)
        edss.append(t2 - t1)
        totals.append(t2 - t0)
        affected = sorted(plan.endpoints_only)
        if plan.full:
            raise RuntimeError(f"an endpoint change planned full rebuilds: {sorted(p.path for p in plan.full)}")
    expected = sorted(p for p in proxies if changed_node in graph.endpoint_dependencies(after, p))
    changed_types = {t for p in affected for t in rebuilt[p].changed_types(published[p])}
    sotw_bytes, delta_bytes = [], []
    for proxy in affected:
        new, old = prepared.PreparedSnapshot.of(rebuilt[proxy]), prepared.PreparedSnapshot.of(published[proxy])
        eds_new, eds_old = new.types[XdsType.ENDPOINTS], old.types[XdsType.ENDPOINTS]
        sotw_bytes.append(len(prepared.sotw_response(eds_new.sotw_body(None)[0], "1")))
        changed = [r.delta_chunk for n, r in eds_new.resources.items()
                   if eds_old.resources.get(n) is None or eds_old.resources[n].version != r.version]
        delta_bytes.append(len(prepared.delta_response(XdsType.ENDPOINTS, eds_new.version, changed, (), "1")))
    suite.add("proxies recomputed", len(affected), "proxies",
              note=f"of {len(proxies)}; exactly the dependents: {affected == expected}; types changed: "
                   f"{sorted(t.value for t in changed_types)}")
    suite.add("compute: plan + EDS for affected proxies", median(totals) * 1000, "ms", target=INCREMENTAL_COMPUTE_MS,
              note=f"median of {len(totals)}")
    suite.add("  of which plan (dependency check of every proxy)", median(plans) * 1000, "ms")
    suite.add("  of which EDS render + snapshot of affected proxies", median(edss) * 1000, "ms",
              target=INCREMENTAL_COMPUTE_MS)
    if sotw_bytes:
        suite.add("bytes per affected proxy, SotW (whole EDS type)", max(sotw_bytes), "bytes", target=INCREMENTAL_BYTES,
                  note=f"median {median(sotw_bytes):.0f}, max shown")
        suite.add("bytes per affected proxy, Delta (changed assignments only)", max(delta_bytes), "bytes",
                  target=INCREMENTAL_BYTES, note=f"median {median(delta_bytes):.0f}, max shown")
    if median(totals) * 1000 > INCREMENTAL_COMPUTE_MS and profile.name != "tiny":
        suite.tables["profile of plan()"] = _profile_plan(recomputer, after, index, changed_node)
    return suite
