"""Real Envoys bootstrapped by `meshplane bootstrap` get their config from the ADS server and carry traffic."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from google.protobuf import json_format
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from support import Envoy, EnvoyRunner, Lab, http_request, wait_until

from .harness import Publisher, ThreadedAds, counter, wait_live
from .scenario import APP_PORT, SERVICE, Scenario

pytestmark = pytest.mark.envoy


def start_front(runner: EnvoyRunner, scenario: Scenario, ads_address: str, *, delta: bool = False) -> tuple[Envoy, str]:
    address = scenario.lab.address()
    options = BootstrapOptions(
        node_id=scenario.front.path, ads_address=ads_address, ads_delta=delta, bind_address=address, admin_port=0
    )
    bootstrap = json_format.MessageToDict(build(options), preserving_proto_field_name=True)
    envoy = runner.start(bootstrap, name="front", wait_ready=False)
    wait_live(envoy)
    return envoy, address


def answered_by(address: str) -> Callable[[], str | None]:
    return lambda: http_request((address, 15001), f"{SERVICE}:{APP_PORT}", timeout=2).upstream


def eventually_answered_by(address: str, node: str, timeout: float = 10.0) -> None:
    wait_until(lambda: answered_by(address)() == node, timeout, what=f"traffic to reach {node}")


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_envoy_receives_config_over_ads_and_route_change_moves_traffic(
    lab: Lab, envoy_runner: EnvoyRunner, ads: ThreadedAds, publisher: Publisher, delta: bool
) -> None:
    scenario = Scenario.two_versions(lab)
    publisher.publish(scenario.snapshot())
    _, front = start_front(envoy_runner, scenario, ads.address, delta=delta)
    assert [answered_by(front)() for _ in range(5)] == ["back-v1"] * 5

    scenario.route_to = "back-v2"
    assert XdsType.ROUTES in publisher.publish(scenario.snapshot())
    eventually_answered_by(front, "back-v2")
    assert ads.metrics().streams_total == 1, "the route change was pushed on the open stream"


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_an_endpoint_only_change_is_delivered_as_eds_only(
    lab: Lab, envoy_runner: EnvoyRunner, ads: ThreadedAds, publisher: Publisher, delta: bool
) -> None:
    scenario = Scenario(lab)
    first = scenario.start_app("back-v1")
    publisher.publish(scenario.snapshot())
    envoy, front = start_front(envoy_runner, scenario, ads.address, delta=delta)
    assert answered_by(front)() == "back-v1"
    before = ads.metrics().resources_sent.copy()

    second = scenario.start_app("back-v1")
    assert publisher.publish(scenario.snapshot()) == [XdsType.ENDPOINTS]
    cluster = next(n for n in scenario.snapshot().of(XdsType.ENDPOINTS) if "back-v1" in n)
    wait_until(lambda: envoy.hosts(cluster).keys() == {f"{first}:{APP_PORT}", f"{second}:{APP_PORT}"}, 10,
               what="Envoy to hold both back-v1 endpoints")  # fmt: skip

    sent = ads.metrics().resources_sent - before
    assert set(sent) == {XdsType.ENDPOINTS}, f"resources sent for the change: {dict(sent)}"
    # SotW resends the type's subscribed set; Delta sends only the one changed assignment.
    assert sent[XdsType.ENDPOINTS] == (1 if delta else len(scenario.snapshot().of(XdsType.ENDPOINTS)))


def with_rejected_cluster(snapshot: Snapshot) -> Snapshot:
    """The same config plus a cluster Envoy must reject (a negative connect timeout)."""
    bad = Cluster(name="cds_rejected_by_envoy", type=Cluster.STATIC)
    bad.connect_timeout.seconds = -1
    clusters = {**snapshot.of(XdsType.CLUSTERS), bad.name: bad}
    return Snapshot.build(snapshot.node_id, {**{k: snapshot.of(k) for k in XdsType}, XdsType.CLUSTERS: clusters})


def test_a_rejected_config_is_nacked_and_traffic_keeps_flowing_on_the_last_good_version(
    lab: Lab, envoy_runner: EnvoyRunner, ads: ThreadedAds, publisher: Publisher
) -> None:
    scenario = Scenario.two_versions(lab)
    publisher.publish(scenario.snapshot())
    envoy, front = start_front(envoy_runner, scenario, ads.address)
    assert answered_by(front)() == "back-v1"

    assert publisher.publish(with_rejected_cluster(scenario.snapshot())) == [XdsType.CLUSTERS]
    wait_until(lambda: ads.metrics().nacks[XdsType.CLUSTERS] >= 1, 10, what="the CDS NACK")
    assert counter(envoy, "cluster_manager.cds.update_rejected") >= 1
    assert "cds_rejected_by_envoy" not in envoy.clusters()
    assert [answered_by(front)() for _ in range(20)] == ["back-v1"] * 20
    nacks = ads.metrics().nacks[XdsType.CLUSTERS]

    scenario.route_to = "back-v2"
    publisher.publish(scenario.snapshot())  # good config again: accepted, nothing more is NACKed
    eventually_answered_by(front, "back-v2")
    assert ads.metrics().nacks[XdsType.CLUSTERS] == nacks
