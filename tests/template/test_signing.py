"""The signing hook makes boto3 and the AWS CLI sign App Mesh calls for `execute-api`.

Each test sends a real request to a tiny local HTTP server and reads the
`Credential=<key>/<date>/<region>/<service>/aws4_request` scope it was signed with.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from meshplane import signing

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


def test_aws_cli_plugin_signs_for_execute_api(capture_server: tuple[str, list[str]], tmp_path: Path) -> None:
    url, seen = capture_server
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-east-1\n[plugins]\nmeshplane = meshplane.awscli_plugin\n")
    env = {
        **os.environ,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    aws = Path(sys.executable).with_name("aws")
    subprocess.run([str(aws), "appmesh", "list-meshes", "--endpoint-url", url], env=env, check=True,
                   capture_output=True, timeout=60)
    assert _signed_service(seen[-1]) == "execute-api"
