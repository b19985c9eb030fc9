"""Zone-aware routing end to end: `meshplane bootstrap` with a zone, the ADS server, the published snapshot.

The Envoy of `front` in zone A is bootstrapped exactly as a sidecar is (`build`, ADS mode, the zone
given): it declares the local cluster, which the server fills from the snapshot with front's own
instances by zone (one in A, one in B).  `zoned` has two instances in each zone and the zoneAware
policy, so every request stays in zone A; with plain round robin half of them (exactly, Envoy runs
one worker) would cross to zone B.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from google.protobuf import json_format
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy.zone_aware import LOCAL_CLUSTER
from meshplane.translate import translate
from support import EnvoyRunner, Lab, MeshBuilder, http_request, listener
from support.policies import policy

from .harness import Publisher, ThreadedAds, wait_live

pytestmark = pytest.mark.envoy

MESH = "zones-over-ads"
SERVICE = "zoned.ads.local"
REQUESTS = 20


def test_a_bootstrapped_sidecar_keeps_its_calls_in_its_zone(
    lab: Lab, envoy_runner: EnvoyRunner, ads: ThreadedAds, publisher: Publisher
) -> None:
    mesh = MeshBuilder(MESH).node("front", backends=(SERVICE,)).node("zoned", listener(8080))
    mesh.service(SERVICE, node="zoned")
    for zone in ("zone-a", "zone-b"):
        for i in range(2):
            address = lab.address()
            mesh.endpoint("zoned", address, None, zone=zone)
            lab.http_app(f"{zone}-{i}", address, 8080)
    front = lab.address()
    mesh.endpoint("front", front, zone="zone-a").endpoint("front", lab.address(), zone="zone-b")
    zones = {"targets": [{"virtualNode": {"virtualNodeName": "zoned"}}], "zoneAware": {"minClusterSize": 2}}
    state = dataclasses.replace(mesh.build(), policies={"zones": policy(MESH, "zones", zones)})
    proxy = ProxyId(MESH, Kind.VIRTUAL_NODE, "front")
    publisher.publish(translate(state, proxy))
    options = BootstrapOptions(node_id=proxy.path, ads_address=ads.address, bind_address=front, admin_port=0,
                               availability_zone="zone-a")  # fmt: skip
    envoy = envoy_runner.start(json_format.MessageToDict(build(options), preserving_proto_field_name=True),
                               name="front", wait_ready=False)  # fmt: skip
    wait_live(envoy)
    assert len(envoy.hosts(LOCAL_CLUSTER)) == 2, "the server sent front's own instances"
    seen = Counter(http_request((front, 15001), f"{SERVICE}:8080", f"/{i}").upstream for i in range(REQUESTS))
    assert seen == Counter({"zone-a-0": REQUESTS // 2, "zone-a-1": REQUESTS // 2}), seen
