"""Upstream failures the deployed API could show, each one App Mesh's 503: oversized, stalled, broken answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.credentials import Credentials
from meshplane.apiproxy.forward import Forwarder
from meshplane.apiproxy.target import parse_target

Reply = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture
def upstream() -> Iterator[Callable[[Reply], str]]:
    servers: list[ThreadingHTTPServer] = []

    def serve(reply: Reply) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                reply(self)

            def log_message(self, *_: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _list_meshes(url: str, **limits: float) -> dict[str, object]:
    forwarder = Forwarder(parse_target(url, "us-east-1"), Credentials("AKIDEXAMPLE", "secret"), **limits)  # type: ignore[arg-type]
    return forwarder.handle({"httpMethod": "GET", "path": "/v20190125/meshes", "headers": {}, "body": None})


def _body(status: int, data: bytes, length: int | None = None) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(data) if length is None else length))
        handler.end_headers()
        handler.wfile.write(data)
        handler.close_connection = True
    return reply


def _unavailable(response: dict[str, object], reason: str) -> None:
    assert response["statusCode"] == 503
    assert response["headers"]["x-amzn-ErrorType"] == "ServiceUnavailableException"  # type: ignore[index]
    assert reason in json.loads(str(response["body"]))["message"]


def test_an_answer_over_the_bound_is_not_relayed(upstream: Callable[[Reply], str]) -> None:
    url = upstream(_body(200, b"x" * 64))
    _unavailable(_list_meshes(url, max_response_bytes=63), "answered more than 63 bytes")
    assert _list_meshes(url, max_response_bytes=64)["statusCode"] == 200


def test_a_stalled_upstream_times_out(upstream: Callable[[Reply], str]) -> None:
    def stall(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(2)
        _body(200, b"{}")(handler)

    started = time.monotonic()
    _unavailable(_list_meshes(upstream(stall), read_timeout=0.3), "did not answer")
    assert time.monotonic() - started < 1.5


def test_an_answer_cut_short_is_not_relayed(upstream: Callable[[Reply], str]) -> None:
    _unavailable(_list_meshes(upstream(_body(200, b'{"meshes"', length=100))), "broke off its answer")
