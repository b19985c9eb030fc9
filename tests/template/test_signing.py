"""The signing hook makes boto3 and the AWS CLI sign App Mesh calls for `execute-api`.

Each test sends a real request to a local HTTP server (a tiny capture server, or the
local App Mesh API) and reads the `Credential=<key>/<date>/<region>/<service>/aws4_request`
scope it was signed with.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from meshplane import signing
from meshplane.api.app import Api
from meshplane.api.http import serve_in_thread
from meshplane.store import ResourceStore, create_table
from moto import mock_aws

REPO = Path(__file__).resolve().parents[2]
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


class _Capture(http.server.BaseHTTPRequestHandler):
    seen: list[str]

    def _answer(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"meshes": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def capture_server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Capture,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _signed_service(authorization: str) -> str:
    match = SCOPE.search(authorization)
    assert match, f"no SigV4 credential scope in {authorization!r}"
    return match["service"]


def _session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1")


def test_unhooked_appmesh_client_signs_as_appmesh(capture_server: tuple[str, list[str]]) -> None:
    url, seen = capture_server
    _session().client("appmesh", endpoint_url=url).list_meshes()
    assert _signed_service(seen[-1]) == "appmesh"


def test_hooked_client_signs_for_execute_api(capture_server: tuple[str, list[str]]) -> None:
    url, seen = capture_server
    client = _session().client("appmesh", endpoint_url=url)
    signing.register(client)
    client.list_meshes()
    assert _signed_service(seen[-1]) == "execute-api"


def test_hooked_session_makes_every_appmesh_client_sign_for_execute_api(
    capture_server: tuple[str, list[str]],
) -> None:
    url, seen = capture_server
    session = _session()
    signing.register(session)
    session.client("appmesh", endpoint_url=url).list_meshes()
    assert _signed_service(seen[-1]) == "execute-api"


def test_hook_leaves_other_services_alone(capture_server: tuple[str, list[str]]) -> None:
    url, seen = capture_server
    session = _session()
    signing.register(session)
    session.client("sqs", endpoint_url=url).list_queues()
    assert _signed_service(seen[-1]) == "sqs"


def readme_cli_config(version: str) -> str:
    """The `~/.aws/config` block README.md gives for AWS CLI `version` (the first ini block after its bullet)."""
    text = (REPO / "README.md").read_text()
    marker = f"**AWS CLI {version}**"
    assert text.count(marker) == 1, f"README.md describes the {marker} plugin set-up once"
    block = re.search(r"```ini\n(.*?)```", text[text.index(marker):], re.S)
    assert block, f"no ini block after {marker}"
    return block[1]


class _RecordingApi(Api):
    """The real local API, remembering each request's Authorization header."""

    def __init__(self, store: ResourceStore) -> None:
        super().__init__(store)
        self.authorizations: list[str] = []

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        self.authorizations.append(event["headers"].get("Authorization", ""))
        return super().handle(event, context)


@pytest.fixture
def local_api() -> Iterator[tuple[str, _RecordingApi]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, "meshplane-cli")
        api = _RecordingApi(ResourceStore("meshplane-cli", dynamodb, region="us-east-1"))
        server, thread = serve_in_thread(api)
        yield f"http://127.0.0.1:{server.server_address[1]}", api
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_bundled_aws_cli_v1_works_with_the_readme_config(
    local_api: tuple[str, _RecordingApi], tmp_path: Path
) -> None:
    """`~/.aws/config` exactly as README.md says for v1; `aws appmesh ... --endpoint-url` against the local API."""
    url, api = local_api
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text(readme_cli_config("v1"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1")
    aws = Path(sys.executable).with_name("aws")
    assert subprocess.run([str(aws), "--version"], capture_output=True, text=True, check=True,
                          timeout=60).stdout.startswith("aws-cli/1.")

    def cli(*args: str) -> dict[str, Any]:
        done = subprocess.run([str(aws), "appmesh", *args, "--endpoint-url", url, "--output", "json"], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert cli("create-mesh", "--mesh-name", "shop")["mesh"]["meshName"] == "shop"
    assert [m["meshName"] for m in cli("list-meshes")["meshes"]] == ["shop"]
    assert [_signed_service(a) for a in api.authorizations] == ["execute-api", "execute-api"]
