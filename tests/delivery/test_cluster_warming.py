"""A cluster whose definition changes while its endpoints do not is warm again at once, over SotW and Delta.

Envoy replaces a changed EDS cluster with a new one that warms until it holds a
ClusterLoadAssignment.  The assignment did not change, so a server that sends only
what changed leaves the new cluster warming until Envoy's initial fetch timeout
(15 s), and with it every listener and route update behind it.  The server sends the
endpoints of the changed clusters again after the clusters."""

from __future__ import annotations

import time

import pytest
from support import EnvoyRunner, Lab, wait_until

from .harness import Publisher, ThreadedAds, counters
from .scenario import Scenario
from .test_ads_traffic import answered_by, eventually_answered_by, start_front

pytestmark = pytest.mark.envoy
WARMED_WITHIN_S = 5.0  # far below the 15 s initial fetch timeout a missing assignment waits for
DETECTION = {"maxServerErrors": 5, "interval": {"unit": "s", "value": 10},
             "baseEjectionDuration": {"unit": "s", "value": 30}, "maxEjectionPercent": 50}


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_a_changed_cluster_with_unchanged_endpoints_warms_without_waiting_for_the_fetch_timeout(
    lab: Lab, envoy_runner: EnvoyRunner, ads: ThreadedAds, publisher: Publisher, delta: bool
) -> None:
    scenario = Scenario.two_versions(lab)
    publisher.publish(scenario.snapshot())
    envoy, front = start_front(envoy_runner, scenario, ads.address, delta=delta)
    eventually_answered_by(front, "back-v1")
    wanted = "^cluster_manager\\.(cluster_modified|warming_clusters)$|init_fetch_timeout$"

    scenario.listener_extra = {"outlierDetection": DETECTION}  # the callers' clusters change, not the endpoints
    changed = publisher.publish(scenario.snapshot())
    started = time.monotonic()

    def settled() -> bool:
        stats = counters(envoy, wanted)
        return stats.get("cluster_manager.cluster_modified", 0) >= 1 and stats["cluster_manager.warming_clusters"] == 0

    wait_until(settled, 20.0, what="the changed clusters to be active")
    took = time.monotonic() - started
    stats = counters(envoy, wanted)
    timeouts = {name: value for name, value in stats.items() if name.endswith("init_fetch_timeout") and value}
    assert not timeouts, f"clusters waited for their endpoints until Envoy gave up: {timeouts} ({changed})"
    assert took < WARMED_WITHIN_S, f"the changed clusters took {took:.1f} s to warm ({changed})"
    assert answered_by(front)() == "back-v1"
