"""`validate` must really run Envoy: a config Envoy refuses raises with Envoy's own words."""

from __future__ import annotations

import pytest
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from meshplane.translate.envoy_check import EnvoyRejected, validate


def test_envoy_rejection_surfaces_envoys_message() -> None:
    boot = bootstrap_pb2.Bootstrap()
    boot.static_resources.clusters.append(cluster_pb2.Cluster(name="twin"))
    boot.static_resources.clusters.append(cluster_pb2.Cluster(name="twin"))
    with pytest.raises(EnvoyRejected, match="twin"):
        validate(boot)
