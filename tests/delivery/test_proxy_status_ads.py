"""Proxy status end to end: a real Envoy on the ADS server, its status in the state table, read through the API.

moto in server mode holds the table and the bucket; the ADS server records status with tighter write bounds than
production's (a 2 s interval instead of 10 s) so the disconnect shows within the test's patience; the NACK's path is
the production one (urgent, spacing 1 s).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from meshplane.api.app import Api
from meshplane.delivery.service import AdsOptions, AdsService
from meshplane.delivery.status.coalescer import Coalescer, WriteBounds
from meshplane.delivery.status.writer import StatusWriter
from meshplane.model.ids import ProxyId
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.store import ResourceStore, create_table
from meshplane.store.pointers import PointerStore
from meshplane.store.proxy_status import ProxyStatusStore
from meshplane.store.s3objects import snapshot_bucket
from support import EnvoyRunner, Lab, wait_until

from .harness import Aws, Publisher, ThreadedAds
from .scenario import Scenario
from .test_ads_traffic import start_front, with_rejected_cluster

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("proxy-status-ads")]
BOUNDS = WriteBounds(settle_seconds=0.2, interval_seconds=2.0)


class StatusAds(ThreadedAds):
    """The ADS service with its status writer on the test's table."""

    def __init__(self, aws: Aws, table: str) -> None:
        self._table = table
        super().__init__(aws)

    async def _build(self, aws: Aws, options: AdsOptions) -> AdsService:
        self.writer = StatusWriter(ProxyStatusStore(self._table, aws.client("dynamodb")), Coalescer(BOUNDS))
        return AdsService(snapshot_bucket(aws.client("s3"), aws.bucket), options, aws.client("sqs"),
                          aws.client("sns"), self.writer)  # fmt: skip


class World:
    """The table, the bucket, the API over them, and a publisher that also advances the table's pointer."""

    def __init__(self, aws: Aws, table: str) -> None:
        self.aws, self.table = aws, table
        dynamodb = aws.client("dynamodb")
        self.api = Api(ResourceStore(table, dynamodb, region="us-east-1"),
                       snapshots=lambda: snapshot_bucket(aws.client("s3"), aws.bucket))  # fmt: skip
        self._publisher = Publisher(aws)
        self._bucket = snapshot_bucket(aws.client("s3"), aws.bucket)
        self._pointers = PointerStore(table, dynamodb)
        self._last: dict[str, Pointer | None] = {}

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        event = {"httpMethod": method, "path": path, "body": None if body is None else json.dumps(body)}
        response = self.api.handle(event)
        return response["statusCode"], json.loads(response["body"])

    def publish(self, snapshot: Snapshot) -> str:
        self._publisher.publish(snapshot)
        pointer = self._bucket.pointer(ProxyId.parse(snapshot.node_id))
        assert pointer is not None
        self._last[snapshot.node_id] = self._pointers.advance(self._last.get(snapshot.node_id), snapshot.node_id,
                                                              pointer)  # fmt: skip
        return snapshot.version


@pytest.fixture(scope="module")
def world(moto_endpoint: str) -> Iterator[World]:
    aws = Aws(moto_endpoint).create()
    table = f"status-{aws.bucket}"
    create_table(aws.client("dynamodb"), table)
    yield World(aws, table)


def proxies(world: World, mesh: str) -> dict[str, Any]:
    status, body = world.call("GET", f"/meshplane/v1/meshes/{mesh}/proxies")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def test_an_envoys_ack_nack_with_its_message_and_disconnect_reach_the_status_api(
    lab: Lab, world: World, tmp_path: Any
) -> None:
    scenario = Scenario.two_versions(lab)
    mesh = scenario.mesh
    assert world.call("PUT", "/v20190125/meshes", {"meshName": mesh})[0] == 200
    front = {"virtualNodeName": "front", "spec": {}}
    assert world.call("PUT", f"/v20190125/meshes/{mesh}/virtualNodes", front)[0] == 200
    good = world.publish(scenario.snapshot())
    ads = StatusAds(world.aws, world.table)
    runner = EnvoyRunner(tmp_path / "envoys")
    try:
        envoy, _front = start_front(runner, scenario, ads.address)
        wait_until(lambda: proxies(world, mesh)["nodes"][0]["sync"] == "in-sync", 15, what="the Envoy in sync")
        (row,) = proxies(world, mesh)["proxies"]
        assert (row["connected"], row["appliedVersion"], row["latestVersion"], row["delivery"]) == (True, good, good,
                                                                                                   "ads")
        assert row["ackedVersions"]["clusters"] == scenario.snapshot().versions[XdsType.CLUSTERS]

        bad_snapshot = with_rejected_cluster(scenario.snapshot())
        bad = world.publish(bad_snapshot)
        published = time.monotonic()
        wait_until(lambda: proxies(world, mesh)["proxies"][0]["nack"] is not None, 10, what="the NACK in the API")
        nack_seconds = time.monotonic() - published
        answer = proxies(world, mesh)
        (row,) = answer["proxies"]
        nack = row["nack"]
        assert nack["typeUrl"] == XdsType.CLUSTERS.type_url
        assert nack["version"] == bad_snapshot.versions[XdsType.CLUSTERS]
        assert "Expected positive duration" in nack["message"], nack["message"]  # Envoy's words, not the server's
        assert nack["changedResources"] == ["cds_rejected_by_envoy"]
        assert set(nack["resourceNames"]) <= {"cds_rejected_by_envoy"}, "only what the message names"
        assert (row["latestVersion"], row["appliedVersion"], row["sync"]) == (bad, good, "nack")
        assert answer["nodes"][0] | {"connected": 1, "nacks": 1, "sync": "nack"} == answer["nodes"][0]
        assert nack_seconds < 10

        status, config = world.call("GET", f"/meshplane/v1/meshes/{mesh}/virtualNodes/front/config")
        assert status == 200 and config["version"] == bad
        assert config["config"]["clusters"]["cds_rejected_by_envoy"]["connectTimeout"] == "-1s"

        envoy.stop()
        wait_until(lambda: not proxies(world, mesh)["proxies"][0]["connected"], 15, what="the disconnect in the API")
        assert proxies(world, mesh)["nodes"][0]["connected"] == 0
    finally:
        runner.close()
        ads.stop()
    assert ads.writer.counts.failures == 0
