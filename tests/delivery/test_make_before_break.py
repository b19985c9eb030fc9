"""A change that moves traffic between clusters loses no request, through a real Envoy, over SotW and
Delta, on an open stream and when Envoy reconnects to a restarted server across the change."""

from __future__ import annotations

import time

import pytest
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryResponse
from meshplane.delivery.server.sequencing import DRAINING
from meshplane.snapshot.types import XdsType
from support import EnvoyRunner, Lab

from .harness import Publisher, ThreadedAds, Traffic
from .rawclient import RawStream, names, sotw
from .scenario import APP_PORT, SERVICE, Scenario
from .test_ads_traffic import eventually_answered_by, start_front

pytestmark = pytest.mark.envoy
CDS = XdsType.CLUSTERS.type_url


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_moving_all_traffic_back_and_forth_between_two_clusters_fails_no_request(
    lab: Lab, envoy_runner: EnvoyRunner, ads: ThreadedAds, publisher: Publisher, delta: bool
) -> None:
    scenario = Scenario.two_versions(lab)
    publisher.publish(scenario.snapshot())
    _, front = start_front(envoy_runner, scenario, ads.address, delta=delta)
    with Traffic(front, f"{SERVICE}:{APP_PORT}") as traffic:
        for target in ("back-v2", "back-v1", "back-v2", "back-v1", "back-v2", "back-v1"):
            time.sleep(0.25)
            scenario.route_to = target  # the route's only target: the other cluster leaves the snapshot
            publisher.publish(scenario.snapshot())
            eventually_answered_by(front, target)
        time.sleep(0.25)
    assert len(traffic.answers) > 20
    assert None not in traffic.answers, f"{traffic.answers.count(None)} of {len(traffic.answers)} requests failed"
    assert traffic.answers.count("back-v1") > 5 and traffic.answers.count("back-v2") > 5


def test_a_sotw_envoy_reconnecting_with_the_previous_clusters_is_answered_with_them_kept(
    lab: Lab, ads: ThreadedAds, publisher: Publisher
) -> None:
    scenario = Scenario.two_versions(lab)
    before = scenario.snapshot()
    publisher.publish(before, notify=False)
    scenario.route_to = "back-v2"
    publisher.publish(scenario.snapshot(), notify=False)  # no event: the server loads it when the stream comes
    stream = RawStream(ads.address)
    try:
        stream.send(sotw(CDS, scenario.front.path, version=before.versions[XdsType.CLUSTERS]))
        response: DiscoveryResponse = stream.recv()
    finally:
        stream.close()
    assert response.version_info.endswith(DRAINING)
    assert any("back-v1" in name for name in names(response)), "the cluster the routes still use is kept"
    assert any("back-v2" in name for name in names(response))
    assert ads.metrics().reconnects_recalled == 1
