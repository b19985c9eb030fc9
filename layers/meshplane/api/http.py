"""A local HTTP server in front of `Api.handle`, speaking API Gateway's v1 proxy events.

Each request becomes the event API Gateway would send, so the local API and
the deployed Lambda run the very same code path.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from meshplane.api.app import Api
from meshplane.api.authz import Unauthenticated

# API Gateway's IAM authorizer: (method, raw path, headers, body) -> `requestContext.identity`, None for a page
# that needs no caller; raises Unauthenticated for an unsigned or badly signed request
Authenticate = Callable[[str, str, Mapping[str, str], bytes], Mapping[str, Any] | None]


def to_event(method: str, raw_path: str, headers: dict[str, str], body: bytes,
             identity: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The API Gateway REST API (v1) proxy event for one HTTP request, with its authenticated caller."""
    parts = urlsplit(raw_path)
    multi = parse_qs(parts.query, keep_blank_values=True)
    text: str | None = None
    encoded = False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
    return {
        "resource": "/{proxy+}",
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": {"proxy": parts.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {"requestId": str(uuid.uuid4()), "httpMethod": method, "path": parts.path,
                           "stage": "local", "resourcePath": "/{proxy+}", "identity": dict(identity or {})},
        "body": text,
        "isBase64Encoded": encoded,
    }


def make_server(api: Api, host: str = "127.0.0.1", port: int = 0, *,
                authenticate: Authenticate | None = None) -> ThreadingHTTPServer:
    """A server bound to `host:port` (0 picks a free port: see `server.server_address`).

    With `authenticate`, every request is authenticated first, as API Gateway's IAM
    authorizer does, and a refused one never reaches the API.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            headers = dict(self.headers.items())
            try:
                identity = authenticate(self.command, self.path, headers, body) if authenticate else None
            except Unauthenticated as refused:
                response = refused.response()
            else:
                response = api.handle(to_event(self.command, self.path, headers, body, identity))
            payload = response.get("body") or ""
            data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
            self.send_response(int(response["statusCode"]))
            for name, value in (response.get("headers") or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and `local up` log elsewhere
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve_in_thread(api: Api, host: str = "127.0.0.1", port: int = 0, *,
                    authenticate: Authenticate | None = None) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start serving in a daemon thread; stop with `server.shutdown(); server.server_close()`."""
    server = make_server(api, host, port, authenticate=authenticate)
    thread = threading.Thread(target=server.serve_forever, name="meshplane-api", daemon=True)
    thread.start()
    return server, thread
