"""The instance's zone in the bootstrap: where it is read from, and the local cluster it brings.

Zone-aware routing needs each Envoy to know its zone (`node.locality.zone`) and to declare the
local cluster the server fills with its own node's instances by zone.  The zone comes from
`--availability-zone`, `MESHPLANE_ZONE`, `AWS_AVAILABILITY_ZONE`, or on ECS the task metadata
endpoint (a loopback stand-in here answers as ECS's does).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions
from meshplane.bootstrap.zone import LOCAL_FETCH_TIMEOUT_S
from meshplane.cli import build_parser, run
from meshplane.model.policy.zone_aware import LOCAL_CLUSTER

from .test_bootstrap import NODE

TASK_ZONE = "eu-west-1c"


@pytest.fixture(scope="module")
def task_metadata() -> Iterator[str]:
    """ECS's task metadata endpoint: `GET ${ECS_CONTAINER_METADATA_URI_V4}/task` holds the AvailabilityZone."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"Cluster": "shop", "AvailabilityZone": TASK_ZONE}).encode()
            self.send_response(200 if self.path == "/v4/abc/task" else 404)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v4/abc"
    finally:
        server.shutdown()
        server.server_close()


def _rendered(capsys: pytest.CaptureFixture[str], *args: str, **env: str) -> dict[str, Any]:
    """`meshplane bootstrap` run in this process (the command line and `run` the console script calls)."""
    parsed = build_parser(env).parse_args(["bootstrap", "--node-id", NODE, *args])
    assert run(parsed) == 0, capsys.readouterr().err
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def _zone(document: dict[str, Any]) -> str | None:
    zone: str | None = document["node"].get("locality", {}).get("zone")
    return zone


def test_meshplane_zone_wins_over_the_aws_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert _zone(_rendered(capsys, MESHPLANE_ZONE="eu-west-1a", AWS_AVAILABILITY_ZONE="eu-west-1b")) == "eu-west-1a"
    assert _zone(_rendered(capsys, AWS_AVAILABILITY_ZONE="eu-west-1b")) == "eu-west-1b"


def test_on_ecs_the_zone_comes_from_the_task_metadata(capsys: pytest.CaptureFixture[str], task_metadata: str) -> None:
    assert _zone(_rendered(capsys, ECS_CONTAINER_METADATA_URI_V4=task_metadata)) == TASK_ZONE
    # A variable or the flag is the operator's explicit choice: no metadata call overrides it.
    told = _rendered(capsys, ECS_CONTAINER_METADATA_URI_V4=task_metadata, MESHPLANE_ZONE="eu-west-1a")
    assert _zone(told) == "eu-west-1a"
    flagged = _rendered(capsys, "--availability-zone", "eu-west-1b", ECS_CONTAINER_METADATA_URI_V4=task_metadata)
    assert _zone(flagged) == "eu-west-1b"


def test_an_unanswering_metadata_endpoint_leaves_the_zone_unknown(
    capsys: pytest.CaptureFixture[str], task_metadata: str
) -> None:
    document = _rendered(capsys, ECS_CONTAINER_METADATA_URI_V4=f"{task_metadata}/nowhere")
    assert _zone(document) is None
    assert "local_cluster_name" not in document.get("cluster_manager", {})


def test_a_zone_brings_the_local_cluster_over_ads() -> None:
    boot = build(BootstrapOptions(node_id=NODE, availability_zone="eu-west-1a"))
    assert boot.cluster_manager.local_cluster_name == LOCAL_CLUSTER
    local = next(c for c in boot.static_resources.clusters if c.name == LOCAL_CLUSTER)
    assert local.eds_cluster_config.eds_config.HasField("ads")
    # A proxy without a zone-aware upstream is never sent the assignment: it waits this long for it, no longer.
    assert local.eds_cluster_config.eds_config.initial_fetch_timeout.ToMilliseconds() == LOCAL_FETCH_TIMEOUT_S * 1000


def test_no_zone_or_file_mode_declares_no_local_cluster() -> None:
    for options in (BootstrapOptions(node_id=NODE), BootstrapOptions(node_id=NODE, mode="file", availability_zone="a")):
        boot = build(options)
        assert not boot.cluster_manager.local_cluster_name
        assert LOCAL_CLUSTER not in {c.name for c in boot.static_resources.clusters}
