"""The `zoneAware` policy section: callers of a virtual node prefer its instances in their own zone.

Why a policy rather than always on: zone-aware routing trades even load for locality, and
it only pays when every zone has enough instances of both the caller and the callee
(Envoy falls back to plain balancing below `minClusterSize`).  The choice is made inside
each caller's Envoy, because one snapshot serves a node's instances in every zone.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from meshplane.model.base import AppMeshModel

ClusterSize = Annotated[int, Field(ge=1, le=10_000)]

TARGETS: frozenset[str] = frozenset({"mesh", "virtualNode"})

# Envoy's local cluster: the calling node's own instances by zone, declared by the bootstrap of an
# instance that knows its zone (`meshplane bootstrap`), its assignment sent in the snapshot.
LOCAL_CLUSTER = "meshplane_local"

# Envoy's own default for zone_aware_lb_config.min_cluster_size.
DEFAULT_MIN_CLUSTER_SIZE = 6


class ZoneAware(AppMeshModel):
    """Envoy zone-aware load balancing on every caller's cluster for the target node."""

    model_config = ConfigDict(frozen=True)

    # Below this many callee endpoints Envoy balances across zones as if the policy were absent.
    min_cluster_size: ClusterSize = Field(default=DEFAULT_MIN_CLUSTER_SIZE, alias="minClusterSize")
    # The share of requests that zone-aware routing decides; the rest are balanced plainly.
    routing_enabled_percent: Annotated[float, Field(ge=0, le=100)] = Field(default=100.0, alias="routingEnabledPercent")
