"""Side by side with sovereign: the same N clusters with endpoints, served by both, in one run.

meshplane: its real ADS server (bench/ads_server.py, own process) over gRPC, SotW.
sovereign: its REST discovery endpoint (own process, one worker).
Both measured by the same client code (bench/xds_client.py): time to the first
complete CDS+EDS response on a fresh connection, then steady throughput of
complete CDS+EDS fetches with concurrent clients.  meshplane's first response is
measured three ways: another Envoy of the node connected; the first Envoy of the
node with the default warm cache (preloaded, kept after streams close); and a cold
load with the cache off (`--cache-nodes 0`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import meshgen
import peer_sovereign
import xds_client
from common import Profile, Suite, ads_server, median, require
from targets import PEER_RATIO


def _first(client_cls: type, args: tuple, node: str, names: list[str], profile: Profile) -> float:
    firsts = []
    for _ in range(profile.pick(5, 3, 2)):
        client = client_cls(*args)
        try:
            firsts.append(client.fetch(node, names).seconds)
        finally:
            client.close()
    return median(firsts) * 1000


def _first_and_throughput(client_cls: type, args: tuple, node: str, names: list[str], verify: object,
                          profile: Profile, expect: int) -> dict[str, float]:
    firsts = []
    for _ in range(profile.pick(5, 3, 2)):
        client = client_cls(*args)
        try:
            fetch = client.fetch(node, names)
        finally:
            client.close()
        firsts.append(fetch.seconds)
    clusters, assignments, _endpoints = verify(fetch)  # type: ignore[operator]
    if assignments != expect or clusters < expect:
        raise RuntimeError(f"incomplete response: {clusters} clusters, {assignments} assignments, want {expect}")
    rate, count = xds_client.throughput(client_cls, args, node, names, workers=4,
                                        seconds=profile.pick(10.0, 3.0, 1.0))
    return {"first ms": median(firsts) * 1000, "fetches/s": rate, "fetches": count,
            "CDS bytes": len(fetch.cds), "EDS bytes": len(fetch.eds)}


def _quit(server: object) -> None:
    server.stdin.write("quit\n")  # type: ignore[attr-defined]
    server.stdin.flush()  # type: ignore[attr-defined]


def run(profile: Profile) -> Suite:
    require("meshplane.delivery.service", "AdsService")
    translate = require("meshplane.translate", "translate").translate
    from meshplane.model.ids import Kind, ProxyId

    suite = Suite("peer")
    rows = []
    for size in profile.pick([1000, 10000], [1000], [20]):
        state, client = meshgen.fat_proxy_mesh(size)
        proxy = ProxyId(state.name, Kind.VIRTUAL_NODE, client)
        snapshot = translate(state, proxy)
        data = peer_sovereign.instances(snapshot)
        names = [d["name"] for d in data]
        expect = len(names)
        with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
            with peer_sovereign.running(Path(tmp), data) as port:
                sov = _first_and_throughput(xds_client.SovereignClient, ("127.0.0.1", port), proxy.path, names,
                                            xds_client.verify_sovereign, profile, expect)
            with ads_server("fat", size, "cold") as (server, port):  # --cache-nodes 0: every first stream loads
                cold = _first(xds_client.AdsClient, (f"127.0.0.1:{port}",), proxy.path, names, profile)
                _quit(server)
            with ads_server("fat", size, "preload") as (server, port):  # production default: warm cache
                target = f"127.0.0.1:{port}"
                warm = _first(xds_client.AdsClient, (target,), proxy.path, names, profile)
                with xds_client.held_stream(target, proxy.path):
                    mp = _first_and_throughput(xds_client.AdsClient, (target,), proxy.path, names,
                                               xds_client.verify_ads, profile, expect)
                _quit(server)
        rate_ratio = mp["fetches/s"] / sov["fetches/s"]
        suite.add(f"N={size:,}: first complete CDS+EDS, sovereign REST", sov["first ms"], "ms")
        suite.add(f"N={size:,}: first complete CDS+EDS, meshplane ADS, node already connected", mp["first ms"], "ms",
                  note="another Envoy of the node holds a stream: snapshot in memory")
        suite.add(f"N={size:,}: first complete CDS+EDS, meshplane ADS, first Envoy of the node", warm, "ms",
                  note="warm cache (default): no stream of the node open; snapshot preloaded at startup, "
                       "then kept prepared after each stream closed")
        suite.add(f"N={size:,}: first complete CDS+EDS, meshplane ADS, cold load (--cache-nodes 0)", cold, "ms",
                  note="cache off: includes loading + parsing + preparing the snapshot from the source")
        suite.add(f"N={size:,}: first-response speed-up, node connected (sovereign / meshplane)",
                  sov["first ms"] / mp["first ms"], "x", target=PEER_RATIO, better="higher")
        suite.add(f"N={size:,}: first-response speed-up, first Envoy of node, warm (sovereign / meshplane)",
                  sov["first ms"] / warm, "x", target=PEER_RATIO, better="higher")
        suite.add(f"N={size:,}: first-response speed-up, cold load (sovereign / meshplane)",
                  sov["first ms"] / cold, "x", target=PEER_RATIO, better="higher")
        suite.add(f"N={size:,}: throughput speed-up (meshplane / sovereign)", rate_ratio, "x",
                  target=PEER_RATIO, better="higher",
                  note=f"{mp['fetches/s']:.1f} vs {sov['fetches/s']:.2f} complete fetches/s, 4 clients, node connected")
        for who, r in (("meshplane ADS", mp), ("sovereign REST", sov)):
            rows.append({"N": size, "server": who, **r,
                         "first ms, first Envoy of node (warm)": warm if r is mp else "",
                         "first ms, cold load": cold if r is mp else ""})
    suite.tables["same clusters and endpoints, same client, same run"] = rows
    return suite
