"""S3 file mode: `meshplane agent` writes the xDS files, Envoy watches them, no ADS server runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryResponse
from google.protobuf import json_format
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions
from meshplane.delivery.agent import Agent, FileWriter
from meshplane.delivery.files import file_path
from meshplane.delivery.rewrite import to_files
from meshplane.model.ids import ProxyId
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from support import Envoy, EnvoyRunner, Lab, wait_until

from .harness import Aws, Publisher, Traffic, counters, wait_live
from .rawclient import names
from .scenario import APP_PORT, SERVICE, Scenario
from .snapshots import snapshot
from .test_ads_traffic import answered_by, eventually_answered_by

MESHPLANE = str(Path(sys.executable).with_name("meshplane"))


@contextlib.contextmanager
def agent(aws: Aws, node_id: str, directory: Path, bind: str, log: Path, *extra: str) -> Iterator[subprocess.Popen]:
    command = [MESHPLANE, "agent", "--node-id", node_id, "--dir", str(directory), "--bucket", aws.bucket,
               "--bind-address", bind, "--interval", "0.2", *extra]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(command, env={**os.environ, **aws.env()}, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def start_file_mode_front(
    scenario: Scenario, envoy_runner: EnvoyRunner, aws: Aws, publisher: Publisher, tmp_path: Path
) -> tuple[Envoy, str, Path, Path]:
    """Publish the scenario, write its files with an init agent (`--once`), start `front` on them."""
    publisher.publish(scenario.snapshot(), notify=False)
    front, xds, log = scenario.lab.address(), tmp_path / "xds", tmp_path / "agent.log"
    with agent(aws, scenario.front.path, xds, front, log, "--once") as init:
        assert init.wait(30) == 0, log.read_text()
    options = BootstrapOptions(node_id=scenario.front.path, mode="file", file_dir=str(xds), bind_address=front,
                               admin_port=0)  # fmt: skip
    bootstrap = json_format.MessageToDict(build(options), preserving_proto_field_name=True)
    envoy = envoy_runner.start(bootstrap, name="front-file", wait_ready=False)
    wait_live(envoy)
    return envoy, front, xds, log


@pytest.mark.envoy
def test_envoy_fed_by_the_file_agent_carries_traffic_and_follows_a_route_change(
    lab: Lab, envoy_runner: EnvoyRunner, aws: Aws, publisher: Publisher, tmp_path: Path
) -> None:
    scenario = Scenario.two_versions(lab)
    envoy, front, xds, log = start_file_mode_front(scenario, envoy_runner, aws, publisher, tmp_path)
    assert [answered_by(front)() for _ in range(5)] == ["back-v1"] * 5

    def rds_updates() -> dict[str, int]:
        """update_success per route configuration, from `http.<prefix>.rds.<name>.update_success`."""
        return {k.split(".rds.")[1].removesuffix(".update_success"): v
                for k, v in counters(envoy, r"\.rds\..*\.update_success$").items()}  # fmt: skip

    old_routes = scenario.snapshot().of(XdsType.ROUTES)
    before = rds_updates()
    with agent(aws, scenario.front.path, xds, front, log):
        scenario.route_to = "back-v2"
        new_routes = scenario.snapshot().of(XdsType.ROUTES)
        changed = {name for name in new_routes if old_routes.get(name) != new_routes[name]}
        publisher.publish(scenario.snapshot(), notify=False)
        eventually_answered_by(front, "back-v2", timeout=15)
        expected = {name: before.get(name, 0) + (name in changed) for name in new_routes}
        wait_until(lambda: rds_updates() == expected, 5, what="each changed route file to load")
        time.sleep(0.5)  # a second, duplicate load would show up here
        assert changed and rds_updates() == expected, "each rewritten route file was loaded exactly once"


def test_file_writer_writes_only_changed_types_and_one_file_per_named_resource(tmp_path: Path) -> None:
    node = "mesh/m/virtualNode/a"
    writer = FileWriter(tmp_path)
    first = to_files(snapshot(node, "a"), tmp_path)
    assert writer.write(first) == [XdsType.SECRETS, XdsType.ENDPOINTS, XdsType.CLUSTERS, XdsType.ROUTES,
                                   XdsType.LISTENERS], "files are written before anything refers to them"  # fmt: skip
    for name in ("cds_a_1", "cds_a_2"):
        assert file_path(tmp_path, XdsType.ENDPOINTS, name).exists()
    lds = file_path(tmp_path, XdsType.LISTENERS)
    lds_inode = lds.stat().st_ino
    assert writer.write(to_files(snapshot(node, "a", endpoints=("10.9.9.9",)), tmp_path)) == [XdsType.ENDPOINTS]
    assert lds.stat().st_ino == lds_inode, "unchanged types are not rewritten"
    written = DiscoveryResponse.FromString(file_path(tmp_path, XdsType.ENDPOINTS, "cds_a_1").read_bytes())
    assert b"10.9.9.9" in written.resources[0].value
    assert not list((tmp_path / ".tmp").iterdir()), "no temp files left behind"
    assert FileWriter(tmp_path).write(first) == [XdsType.ENDPOINTS], "a new writer compares with the disk"


@pytest.mark.envoy
def test_route_flips_in_file_mode_fail_no_request(
    lab: Lab, envoy_runner: EnvoyRunner, aws: Aws, publisher: Publisher, tmp_path: Path
) -> None:
    scenario = Scenario.two_versions(lab)
    _, front, xds, log = start_file_mode_front(scenario, envoy_runner, aws, publisher, tmp_path)
    with agent(aws, scenario.front.path, xds, front, log), Traffic(front, f"{SERVICE}:{APP_PORT}") as traffic:
        for target in ("back-v2", "back-v1", "back-v2", "back-v1"):
            time.sleep(0.3)
            scenario.route_to = target  # the other cluster leaves the snapshot
            publisher.publish(scenario.snapshot(), notify=False)
            eventually_answered_by(front, target, timeout=15)
        time.sleep(0.3)
    assert len(traffic.answers) > 20
    assert None not in traffic.answers, f"{traffic.answers.count(None)} of {len(traffic.answers)} requests failed"


class _Pointers:
    """A snapshot source holding one proxy's current snapshot, as the agent reads it."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def pointer(self, _proxy: ProxyId, if_none_match: str = "") -> Pointer | None:
        version = self.snapshot.version
        return None if if_none_match == version else Pointer(version, "key", etag=version)

    def fetch(self, _pointer: Pointer) -> Snapshot:
        return self.snapshot


def test_the_agent_keeps_a_dropped_cluster_and_its_endpoints_until_a_poll_after_the_drain_time(tmp_path: Path) -> None:
    node = "mesh/m/virtualNode/a"
    both = snapshot(node, "a")
    resources = {kind: dict(both.of(kind)) for kind in XdsType}
    del resources[XdsType.CLUSTERS]["cds_a_2"], resources[XdsType.ENDPOINTS]["cds_a_2"]
    source = _Pointers(both)
    agent = Agent(source, ProxyId.parse(node), FileWriter(tmp_path),  # type: ignore[arg-type]
                  drain_seconds=0.3, pause_before_routes=0)  # fmt: skip
    agent.sync_once()

    def clusters_on_disk() -> list[str]:
        return names(DiscoveryResponse.FromString(file_path(tmp_path, XdsType.CLUSTERS).read_bytes()))

    source.snapshot = Snapshot.build(node, resources)
    agent.sync_once()
    assert clusters_on_disk() == ["cds_a_1", "cds_a_2"], "kept while the routes move off it"
    assert file_path(tmp_path, XdsType.ENDPOINTS, "cds_a_2").exists(), "with the endpoints it warms from"
    assert agent.sync_once() == [], "nothing is due before the drain time"
    time.sleep(0.35)
    assert agent.sync_once() == [XdsType.CLUSTERS]
    assert clusters_on_disk() == ["cds_a_1"]
    assert not file_path(tmp_path, XdsType.ENDPOINTS, "cds_a_2").exists()


def test_an_init_agent_keeps_nothing_that_the_snapshot_dropped(tmp_path: Path) -> None:
    node = "mesh/m/virtualNode/a"
    FileWriter(tmp_path).write(to_files(snapshot(node, "a"), tmp_path))
    only_b = _Pointers(snapshot(node, "b"))
    Agent(only_b, ProxyId.parse(node), FileWriter(tmp_path), drain_seconds=0).sync_once()  # type: ignore[arg-type]
    written = DiscoveryResponse.FromString(file_path(tmp_path, XdsType.CLUSTERS).read_bytes())
    assert names(written) == ["cds_b_1", "cds_b_2"]
