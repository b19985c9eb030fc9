"""A small HTTPS JSON server on its own threads, bounded in connections, time and body size.

It sits on a port anyone in the VPC can reach and that a proxy uses before it has any
credential, so each bound is a refusal, never a queue: past `max_connections` open
connections a new one is closed at once; a connection that has not finished its TLS
handshake and request within `timeout_s` is cut; a body must have a Content-Length of at
most `max_body` bytes. One request per connection. Errors are App Mesh's shapes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from meshplane.identity.defaults import MAX_CONNECTIONS
from meshplane.identity.errors import BadRequest, ExchangeError
from meshplane.identity.serverkeys import ContextCache

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
TIMEOUT_S = 10.0

# (method, path, body) -> JSON document; raises ExchangeError to refuse.
App = Callable[[str, str, bytes], Any]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _body(self) -> bytes:
        if self.command != "POST":
            return b""
        if self.headers.get("Transfer-Encoding"):
            raise BadRequest("send the body with a Content-Length, not chunked")
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise BadRequest("a POST needs a Content-Length")
        if int(length) > self.server.max_body:
            raise BadRequest(f"the body exceeds {self.server.max_body} bytes")
        return self.rfile.read(int(length))

    def _serve(self) -> None:
        try:
            document = self.server.app(self.command, self.path, self._body())
            self._send(200, document, None)
        except ExchangeError as exc:
            self._send(exc.status, {"message": exc.message}, exc.error_type)
        except Exception:
            log.exception("exchange request %s %s failed", self.command, self.path)
            self._send(500, {"message": "internal error"}, "InternalServerErrorException")

    def _send(self, status: int, document: Any, error_type: str | None) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(socketserver.TCPServer):
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, contexts: ContextCache, max_connections: int,
                 timeout_s: float, max_body: int) -> None:  # fmt: skip
        self.app, self.contexts, self.timeout_s, self.max_body = app, contexts, timeout_s, max_body
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        threading.Thread(target=self._one, args=(request, client_address), daemon=True).start()

    def _one(self, sock: socket.socket, address: Any) -> None:
        cut = socket.socket(fileno=os.dup(sock.fileno()))  # ends the connection at its deadline, whatever it waits on
        deadline = threading.Timer(self.timeout_s, _shutdown, (cut,))
        deadline.start()
        try:
            sock.settimeout(self.timeout_s)
            with self.contexts.context().wrap_socket(sock, server_side=True) as tls:
                self.finish_request(tls, address)
                with contextlib.suppress(OSError):
                    tls.unwrap()
        except (OSError, ssl.SSLError) as exc:
            log.debug("exchange connection from %s ended: %s", address, exc)
        finally:
            deadline.cancel()
            cut.close()
            self.shutdown_request(sock)
            self._slots.release()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class HttpsEndpoint:
    def __init__(self, app: App, contexts: ContextCache, *, max_connections: int = MAX_CONNECTIONS,
                 timeout_s: float = TIMEOUT_S, max_body: int = MAX_BODY) -> None:  # fmt: skip
        self._app, self._contexts = app, contexts
        self._limits = (max_connections, timeout_s, max_body)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def refused(self) -> int:
        return self._server.refused if self._server else 0

    def start(self, host: str, port: int) -> int:
        """Bind and serve on a thread; returns the bound port (port 0 picks one)."""
        self._server = _Server((host, port), self._app, self._contexts, *self._limits)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="identity-endpoint", daemon=True)  # fmt: skip
        self._thread.start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
