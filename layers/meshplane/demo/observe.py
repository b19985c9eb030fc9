"""Read what an Envoy actually holds: route weights from its config dump, retry and outlier stats."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from meshplane.demo.envoy import Sidecar

COLORS = ("blue", "green")
_COLOR_IN_CLUSTER = re.compile(r"_(blue|green)_")


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def color_of(cluster: str) -> str | None:
    found = _COLOR_IN_CLUSTER.search(cluster)
    return found.group(1) if found else None


def route_weights(dump: dict[str, Any]) -> dict[str, float] | None:
    """The blue/green shares of the first route action in `dump` that targets them, else None."""
    for node in _walk(dump):
        weighted = node.get("weighted_clusters")
        if isinstance(weighted, dict):
            weights: dict[str, int] = {}
            for cluster in weighted.get("clusters", []):
                color = color_of(str(cluster.get("name", "")))
                if color:
                    weights[color] = weights.get(color, 0) + int(cluster.get("weight", 0))
            total = sum(weights.values())
            if total:
                return {color: weights.get(color, 0) / total for color in COLORS}
        cluster_name = node.get("cluster")
        if isinstance(cluster_name, str) and "timeout" in node and color_of(cluster_name):
            return {color: float(color == color_of(cluster_name)) for color in COLORS}
    return None


def weights_match(seen: dict[str, float] | None, blue: int, green: int) -> bool:
    if seen is None:
        return False
    total = blue + green
    return all(abs(seen[c] - w / total) < 1e-6 for c, w in zip(COLORS, (blue, green), strict=True))


RESILIENCE_STATS = ("upstream_rq_retry", "outlier_detection.ejections_enforced_total", "upstream_cx_connect_fail",
                    "upstream_rq_5xx")  # fmt: skip


def color_stats(sidecar: Sidecar, color: str, names: tuple[str, ...] = RESILIENCE_STATS) -> dict[str, int]:
    """Counters `names` (retry and outlier ones by default) of the egress clusters of `color`, summed."""
    totals = dict.fromkeys(names, 0)
    for name, value in sidecar.stats("cluster.").items():
        cluster, _, stat = name.removeprefix("cluster.").partition(".")
        if color_of(cluster + "_") == color and stat in totals:
            totals[stat] += value
    return totals


ADS_CLUSTER_CONNECTIONS = "cluster.meshplane_ads.upstream_cx_total"  # the bootstrap's static ADS cluster


def ads_connection(sidecar: Sidecar) -> tuple[bool, int] | None:
    """(is the ADS stream up, connections ever opened to ADS); None when the admin API does not answer."""
    try:
        stats = sidecar.stats("(control_plane.connected_state|meshplane_ads.upstream_cx_total)")
    except (OSError, ValueError):
        return None
    return stats.get("control_plane.connected_state") == 1, stats.get(ADS_CLUSTER_CONNECTIONS, 0)
