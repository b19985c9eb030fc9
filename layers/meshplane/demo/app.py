"""The demo's services: tiny HTTP apps that answer with their name, version and instance.

`front` also calls its backend (the `color` virtual service) through its own sidecar's
egress listener, the way an app inside App Mesh does, and wraps the answer.  `POST /fault?share=`
on an app's own address makes it answer 500 to that share of requests (a bad release, for the
rollouts and the rollback bench).  For the policy checks (`demo.beyond`) an answer echoes the
`x-demo-*` request headers the app received, and `GET /_demo/shadowed` on the app's own address
counts the mirrored copies it was sent (Envoy sends them with `-shadow` after the Host) by the first
segment of their path.
Run as `python -m meshplane.demo.app --name blue --version v1 --instance blue-1 --listen 127.x.y.z:8080`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SHADOWED_PATH = "/_demo/shadowed"
ECHOED_PREFIX = "x-demo-"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _AppServer

    def do_GET(self) -> None:
        if self.path == SHADOWED_PATH:
            self._reply(200, {"shadowed": dict(self.server.shadowed)})
            return
        if self.headers.get("host", "").endswith("-shadow"):
            self.server.count_shadow(self.path)
        body: dict[str, Any] = {"service": self.server.name, "version": self.server.version,
                                "instance": self.server.instance}  # fmt: skip
        echoed = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith(ECHOED_PREFIX)}
        if echoed:
            body["headers"] = echoed
        status = 500 if self.server.faulty() else 200
        if self.server.backend is not None:
            status, upstream = self.server.call_backend(self.path)
            body["backend"] = upstream
        self._reply(status, body)

    def do_POST(self) -> None:
        """`POST /fault?share=0.3`: answer 500 to that share of the requests from now on (0 heals)."""
        query = parse_qs(urlsplit(self.path).query)
        try:
            share = float(query.get("share", ["0"])[0])
        except ValueError:
            share = -1.0
        if urlsplit(self.path).path != "/fault" or not 0 <= share <= 1:
            self._reply(400, {"error": "POST /fault?share=<0..1>"})
            return
        self.server.fault_share, self.server.answered = share, 0
        self._reply(200, {"faultShare": share})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: thousands of requests would drown the log."""


class _AppServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: tuple[str, int], args: argparse.Namespace) -> None:
        super().__init__(listen, _Handler)
        self.name: str = args.name
        self.version: str = args.version
        self.instance: str = args.instance
        self.backend: tuple[str, int] | None = _split(args.egress) if args.egress else None
        self.backend_host: str = args.backend_host
        self.fault_share, self.answered = 0.0, 0
        self.shadowed: Counter[str] = Counter()  # mirrored copies by the first segment of their path
        self._count = threading.Lock()

    def count_shadow(self, path: str) -> None:
        with self._count:
            self.shadowed[path.lstrip("/").split("/", 1)[0]] += 1

    def faulty(self) -> bool:
        """Whether this answer is one of the `fault_share` that fail: exactly that share, spread evenly."""
        with self._count:
            before = int(self.answered * self.fault_share)
            self.answered += 1
            return int(self.answered * self.fault_share) > before

    def call_backend(self, path: str) -> tuple[int, Any]:
        """GET the backend through the sidecar egress; a failure becomes a 502 the caller sees."""
        assert self.backend is not None
        connection = http.client.HTTPConnection(*self.backend, timeout=10)
        try:
            connection.request("GET", path, headers={"host": self.backend_host})
            response = connection.getresponse()
            raw = response.read()
            try:
                return (200 if response.status == 200 else 502), json.loads(raw)
            except ValueError:
                return 502, {"status": response.status, "body": raw.decode(errors="replace")[:200]}
        except OSError as error:
            return 502, {"error": str(error)}
        finally:
            connection.close()


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meshplane-demo-app")
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--listen", required=True, help="ip:port")
    parser.add_argument("--egress", help="ip:port of the sidecar egress listener, for an app with a backend")
    parser.add_argument("--backend-host", default="", help="Host header naming the backend virtual service")
    args = parser.parse_args(argv)
    server = _AppServer(_split(args.listen), args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
