"""The spare Envoy is handed the bootstrap in protobuf's binary form, which it reads from a `.pb` FIFO."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from meshplane.translate import envoy_check, envoy_spare


def _bootstrap(*names: str) -> bootstrap_pb2.Bootstrap:
    boot = bootstrap_pb2.Bootstrap()
    boot.static_resources.clusters.extend(cluster_pb2.Cluster(name=n) for n in names)
    return boot


def test_the_bootstrap_reaches_the_spare_serialised_as_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[bytes] = []

    def spare(command: Sequence[str], config: bytes, timeout: float) -> tuple[int, str]:
        handed.append(config)
        return 0, ""

    monkeypatch.setattr(envoy_spare, "validate", spare)
    envoy_check.validate(_bootstrap("one", "two"))
    assert [bootstrap_pb2.Bootstrap.FromString(config) for config in handed] == [_bootstrap("one", "two")]


def test_a_spare_reads_a_binary_bootstrap_and_rejects_what_envoy_rejects() -> None:
    envoy_check.validate(_bootstrap("one"))
    with pytest.raises(envoy_check.EnvoyRejected, match="twin"):
        envoy_check.validate(_bootstrap("twin", "twin"))
