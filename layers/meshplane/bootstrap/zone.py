"""The instance's availability zone, which zone-aware routing starts from (`node.locality.zone`).

In order: `--availability-zone`, `MESHPLANE_ZONE`, `AWS_AVAILABILITY_ZONE`, and on ECS (EC2 or
Fargate) the task metadata endpoint's `AvailabilityZone`
(`${ECS_CONTAINER_METADATA_URI_V4}/task`), which every ECS task can read without credentials.
An instance whose zone stays unknown gets no locality and no local cluster: zone-aware routing
then leaves its callers' balancing as it was.

An instance that knows its zone declares Envoy's local cluster (`meshplane_local`, EDS over
ADS): the caller's own instances by zone, which Envoy weighs the callee's zones against.  The
server sends its assignment only to proxies that have a zone-aware upstream; the others never
receive one, so the cluster's first fetch gives up after LOCAL_FETCH_TIMEOUT_S (with
`--ads-delta` the server says at once that there is none) and the proxy starts without it.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping

from envoy.config.bootstrap.v3.bootstrap_pb2 import Bootstrap

from meshplane.model.policy.zone_aware import LOCAL_CLUSTER
from meshplane.translate.core import seconds
from meshplane.translate.policy import zone_aware

log = logging.getLogger(__name__)

ECS_METADATA_VAR = "ECS_CONTAINER_METADATA_URI_V4"
METADATA_TIMEOUT_S = 2.0
LOCAL_FETCH_TIMEOUT_S = 0.25


def ecs_zone(env: Mapping[str, str], timeout: float = METADATA_TIMEOUT_S) -> str | None:
    """The task's `AvailabilityZone` from the ECS task metadata endpoint, or None off ECS or when it cannot say."""
    base = env.get(ECS_METADATA_VAR)
    if not base:
        return None
    try:
        with urllib.request.urlopen(f"{base.rstrip('/')}/task", timeout=timeout) as response:
            document = json.loads(response.read())
    except (OSError, ValueError) as exc:
        log.warning("no availability zone from the ECS task metadata endpoint: %s", exc)
        return None
    zone = document.get("AvailabilityZone") if isinstance(document, dict) else None
    return zone if isinstance(zone, str) and zone else None


def declare_local_cluster(boot: Bootstrap) -> None:
    """Envoy's local cluster, read over ADS, whose first fetch waits LOCAL_FETCH_TIMEOUT_S at most."""
    cluster = zone_aware.local_cluster()
    cluster.eds_cluster_config.eds_config.initial_fetch_timeout.CopyFrom(seconds(LOCAL_FETCH_TIMEOUT_S))
    boot.static_resources.clusters.append(cluster)
    boot.cluster_manager.local_cluster_name = LOCAL_CLUSTER
