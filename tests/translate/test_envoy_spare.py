"""The spare Envoy: started ahead of a validation, it judges the next config as a fresh one would,
and one that is closed leaves no process behind (`translate.envoy_spare`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from meshplane.envoy_binary import find
from meshplane.translate import envoy_spare
from meshplane.translate.envoy_check import EnvoyRejected, executable, validate

COMMAND = (executable(find()), "--mode", "validate", "--disable-hot-restart", "-l", "error")


def _bootstrap(*names: str) -> bootstrap_pb2.Bootstrap:
    boot = bootstrap_pb2.Bootstrap()
    boot.static_resources.clusters.extend(cluster_pb2.Cluster(name=n) for n in names)
    return boot


def test_after_a_validation_a_spare_waits_and_judges_the_next_config() -> None:
    validate(_bootstrap("one"))
    waiting = envoy_spare._waiting
    assert waiting is not None and waiting.usable(COMMAND)
    with pytest.raises(EnvoyRejected, match="twin"):
        validate(_bootstrap("twin", "twin"))  # on the spare that waited
    assert envoy_spare._waiting is not waiting  # used once; another one waits
    validate(_bootstrap("two"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_closed_spare_leaves_no_process() -> None:
    spare = envoy_spare.Spare(COMMAND)
    pid = spare._process.pid
    deadline = time.monotonic() + 10
    children: list[int] = []
    while not children and time.monotonic() < deadline:  # `timeout` starts Envoy as its child
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        time.sleep(0.01)
    spare.close()
    assert not _alive(pid)
    deadline = time.monotonic() + 5
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.01)  # Envoy exits on the SIGTERM `timeout` passed on
    assert children and not any(_alive(c) for c in children)
