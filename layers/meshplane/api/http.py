"""A local HTTP server in front of `Api.handle`, speaking API Gateway's v1 proxy events.

Each request becomes the event API Gateway would send, so the local API and
the deployed Lambda run the very same code path.  Like API Gateway, the server
itself answers requests that never become an event (a Content-Length that is
not a number, a body over `strict_json.MAX_BODY_BYTES`, a chunked body, a
malformed request line or header block), always in App Mesh's error shape
(`BadRequestException`, with the HTTP status that names the framing problem)
and always with an answer: a client that stalls is answered once
`read_timeout` passes, and the connection is closed after every such error.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qs, urlsplit

from meshplane.api import responses, strict_json
from meshplane.api.authz import Unauthenticated
from meshplane.store.errors import BadRequest, InternalServerError, MeshplaneError

READ_TIMEOUT_SECONDS = 30.0
# A body refused unread is read and dropped up to API Gateway's own 10 MB cap before the connection
# closes, so a client that sends all of it before reading (botocore does) sees the answer, not a reset.
DRAIN_MAX_BYTES = 10 * 1000 * 1000
_DIGITS = re.compile(r"[0-9]{1,19}")
_TARGET = re.compile(r"/[!-~]*")  # origin-form, printable ASCII; '#' (a fragment) is refused separately
log = logging.getLogger(__name__)
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


class _Refused(Exception):
    """A request the server answers itself, before any event is built; `unread` body bytes follow it."""

    def __init__(self, status: HTTPStatus, message: str, unread: int = 0) -> None:
        super().__init__(message)
        self.status, self.message, self.unread = status, message, unread


def content_length(values: list[str]) -> int:
    """The announced body size: one non-negative decimal number (repeats must agree), else _Refused."""
    distinct = {value.strip() for value in values}
    if len(distinct) > 1:
        raise _Refused(HTTPStatus.BAD_REQUEST, "Content-Length: given more than once with different values")
    if not distinct:
        return 0
    (text,) = distinct
    if not _DIGITS.fullmatch(text):
        raise _Refused(HTTPStatus.BAD_REQUEST,
                       f"Content-Length: must be a non-negative integer, got {strict_json.shown(text)}")
    length = int(text)
    if length > strict_json.MAX_BODY_BYTES:
        raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       f"body: {length} bytes, at most {strict_json.MAX_BODY_BYTES}", unread=length)
    return length


class Handles(Protocol):
    """What a server answers with: the API, or what stands in for it (the local gateway, the API proxy)."""

    def handle(self, event: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Serving:
    """What a server's handler answers with: the API (or what stands in for it) and the optional authenticator."""

    handle: Callable[[dict[str, Any]], dict[str, Any]]
    authenticate: Authenticate | None = None


class ApiRequestHandler(BaseHTTPRequestHandler):
    """One HTTP request in, the API's answer out; every refusal in App Mesh's error shape."""

    protocol_version = "HTTP/1.1"
    serving: ClassVar[Serving]

    def _serve(self) -> None:
        try:
            body = self._body()
        except _Refused as refused:
            self._answer_refusal(refused)
            return
        headers = dict(self.headers.items())
        try:
            authenticate = self.serving.authenticate
            identity = authenticate(self.command, self.path, headers, body) if authenticate else None
        except Unauthenticated as refused:
            self._answer(refused.response())
            return
        self._answer(_handled(self.serving.handle, to_event(self.command, self.path, headers, body, identity)))

    def __getattr__(self, name: str) -> Callable[[], None]:
        # every method reaches the API, which answers the ones App Mesh lacks with NotFoundException
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _body(self) -> bytes:
        if "#" in self.path or not _TARGET.fullmatch(self.path):
            raise _Refused(HTTPStatus.BAD_REQUEST, "request target: must be a path of printable ASCII "
                                                   "without '#'")
        if self.headers.get("Transfer-Encoding") is not None:
            raise _Refused(HTTPStatus.LENGTH_REQUIRED, "Transfer-Encoding: not supported, send Content-Length")
        length = content_length(self.headers.get_all("Content-Length") or [])
        try:
            body = self.rfile.read(length) if length else b""
        except TimeoutError:
            raise _Refused(HTTPStatus.REQUEST_TIMEOUT, f"body: not received within {self.timeout:g}s") from None
        if len(body) < length:
            raise _Refused(HTTPStatus.BAD_REQUEST,
                           f"body: {len(body)} bytes before the connection closed, Content-Length {length}")
        return body

    def handle_expect_100(self) -> bool:
        """Refuse a body that would be refused before the client sends it."""
        try:
            content_length(self.headers.get_all("Content-Length") or [])
        except _Refused as refused:
            refused.unread = 0  # the client waits for "100 Continue" before it sends the body
            self._answer_refusal(refused)
            return False
        return super().handle_expect_100()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (request line, headers), in App Mesh's shape: each is the client's."""
        status = HTTPStatus(code) if 400 <= code < 500 else HTTPStatus.BAD_REQUEST
        text = strict_json.shown(message or status.phrase)
        if self.request_version == "HTTP/0.9":  # unparsed yet: answer with a status line and headers
            self.request_version = self.protocol_version
        self._answer_refusal(_Refused(status, f"HTTP request: {text}"))

    def _answer_refusal(self, refused: _Refused) -> None:
        self.close_connection = True  # what is left of the request on the socket is not a request
        response = responses.error(BadRequest(refused.message))
        self._answer({**response, "statusCode": int(refused.status)})
        if 0 < refused.unread <= DRAIN_MAX_BYTES:
            self.wfile.flush()
            self._drain(refused.unread)

    def _drain(self, count: int) -> None:
        try:
            while count > 0:
                chunk = self.rfile.read1(min(count, 65536))
                if not chunk:
                    return
                count -= len(chunk)
        except OSError:  # the client gave up, or stalled past the read timeout: close anyway
            return

    def _answer(self, response: dict[str, Any]) -> None:
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        self.send_response(int(response["statusCode"]))
        for name, value in (response.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and `local up` log elsewhere
        return


def make_server(
    api: Handles, host: str = "127.0.0.1", port: int = 0, *, read_timeout: float = READ_TIMEOUT_SECONDS,
    authenticate: Authenticate | None = None,
) -> ThreadingHTTPServer:
    """A server bound to `host:port` (0 picks a free port: see `server.server_address`).

    With `authenticate`, every request is authenticated first, as API Gateway's IAM
    authorizer does, and a refused one never reaches the API.

    `read_timeout` bounds each socket read and write, so a stalled client holds
    its thread no longer than that.
    """

    serving = Serving(api.handle, authenticate)
    handler = type("Handler", (ApiRequestHandler,), {"serving": serving, "timeout": read_timeout})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def _handled(handle: Callable[[dict[str, Any]], dict[str, Any]], event: dict[str, Any]) -> dict[str, Any]:
    """`handle(event)`; a handler that raises is the server's fault, answered as App Mesh's 500."""
    try:
        return handle(event)
    except Exception:
        log.exception("the API handler raised")
        error: MeshplaneError = InternalServerError("internal error; the request may be retried")
        return responses.error(error)


def serve_in_thread(
    api: Handles, host: str = "127.0.0.1", port: int = 0, *, read_timeout: float = READ_TIMEOUT_SECONDS,
    authenticate: Authenticate | None = None,
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start serving in a daemon thread; stop with `server.shutdown(); server.server_close()`."""
    server = make_server(api, host, port, read_timeout=read_timeout, authenticate=authenticate)
    thread = threading.Thread(target=server.serve_forever, name="meshplane-api", daemon=True)
    thread.start()
    return server, thread
