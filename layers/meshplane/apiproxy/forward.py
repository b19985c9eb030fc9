"""Forward one App Mesh request to the deployed API, signed again for `execute-api`.

The request arrives as the API Gateway proxy event `meshplane.api.http` builds, so the
local server's framing rules (Content-Length, body bound, timeouts, App Mesh-shaped
refusals) apply to the proxy as they do to the local API.  Only the API's operations go
out (App Mesh's, and meshplane's policies, rollouts and proxy reads: `apiproxy.operations`),
with only the headers a rest-json call needs; the client's signature never does.
The upstream's answer comes back byte for byte, with its status and error headers.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlencode

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from meshplane.api import responses
from meshplane.apiproxy.defaults import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
from meshplane.apiproxy.operations import operation_name
from meshplane.apiproxy.target import Target
from meshplane.store.errors import MeshplaneError, NotFound

SIGNING_NAME = "execute-api"
# API Gateway answers at most 10 MB; a larger answer is not the deployed API's
MAX_RESPONSE_BYTES = 10 * 1000 * 1000
_REQUEST_HEADERS = frozenset({"content-type", "accept", "user-agent"})
# the client's signature headers: the proxy's own signature replaces them, and they must not leak upstream
_CLIENT_SIGNING_HEADERS = frozenset({"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"})
log = logging.getLogger(__name__)


class UpstreamUnavailable(MeshplaneError):
    """The target did not answer (refused, timed out, broke the connection, answered past the bound)."""

    code = "ServiceUnavailable"


def request_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client headers that go upstream: content-type, accept, user-agent and non-auth `x-amz-*`."""
    kept = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _REQUEST_HEADERS or (lower.startswith("x-amz-") and lower not in _CLIENT_SIGNING_HEADERS):
            kept[name] = value
    return kept


def response_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The upstream headers that come back: content-type and `x-amz*` (x-amzn-ErrorType, x-amzn-RequestId)."""
    return {name: value for name, value in headers
            if name.lower() == "content-type" or name.lower().startswith("x-amz")}


def upstream_path(path: str, query: Mapping[str, list[str]] | None) -> str:
    """`path?query` with every byte outside the unreserved set percent-encoded in upper case.

    The form that is signed is the form that is sent: urllib3 normalizes what it
    considers mis-encoded, and a canonical encoding leaves it nothing to change.
    Segments are decoded one by one, so an encoded `/` inside a name stays inside it.
    """
    canonical = "/".join(quote(unquote(segment), safe="") for segment in path.split("/"))
    pairs = [(name, value) for name, values in (query or {}).items() for value in values]
    return canonical + (f"?{urlencode(pairs, quote_via=quote, safe='')}" if pairs else "")


def event_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


class Forwarder:
    """Duck-types `Api.handle(event)` for `meshplane.api.http.make_server`: each event goes to `target`."""

    def __init__(self, target: Target, credentials: Credentials | None, *,
                 connect_timeout: float = CONNECT_TIMEOUT_SECONDS, read_timeout: float = READ_TIMEOUT_SECONDS,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.target, self.credentials, self.max_response_bytes = target, credentials, max_response_bytes
        self._pool = urllib3.connection_from_url(
            target.origin, timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=False, maxsize=8, block=False)

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        method, path = str(event.get("httpMethod") or "GET").upper(), str(event.get("path") or "/")
        try:
            operation_name(method, path)
        except NotFound as refused:
            return responses.error(refused)
        return self.forward(method, path, event)

    def forward(self, method: str, path: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """Send one request whose path the caller has already allowed; the answer as an API Gateway response."""
        started = time.monotonic()
        signed = self.signed(method, upstream_path(path, event.get("multiValueQueryStringParameters")),
                             dict(event.get("headers") or {}), event_body(event))
        try:
            status, headers, data = self._send(signed)
        except UpstreamUnavailable as unavailable:
            log.warning("%s %s: %s", method, path, unavailable.message)
            return responses.error(unavailable)
        log.info("%s %s -> %d in %.0f ms", method, path, status, (time.monotonic() - started) * 1000)
        return {"statusCode": status, "headers": headers, "body": base64.b64encode(data).decode(),
                "isBase64Encoded": True}

    def signed(self, method: str, path_and_query: str, headers: Mapping[str, str], body: bytes) -> AWSRequest:
        """The upstream request, signed by botocore for `execute-api` in the target's region.

        Without credentials it goes unsigned: only for a loopback `meshplane local up`, which checks no signature.
        """
        request = AWSRequest(method=method, url=self.target.url(path_and_query), data=body,
                             headers={**request_headers(headers), "Host": self.target.netloc})
        if self.credentials is not None:
            SigV4Auth(self.credentials.get_frozen_credentials(), SIGNING_NAME, self.target.region).add_auth(request)
        return request

    def _send(self, request: AWSRequest) -> tuple[int, dict[str, str], bytes]:
        prepared = request.prepare()
        path = prepared.url[len(self.target.origin):]
        body = prepared.body
        if body is not None and not isinstance(body, bytes):  # `signed` builds every request from bytes
            raise TypeError(f"a request body of {type(body).__name__}")
        try:
            answer = self._pool.urlopen(prepared.method, path, body=body, headers=dict(prepared.headers),
                                        retries=False, redirect=False, preload_content=False,
                                        decode_content=False, assert_same_host=False)
        except urllib3.exceptions.HTTPError as exc:
            raise UpstreamUnavailable(f"{self.target.origin} did not answer: {_reason(exc)}") from None
        try:
            data = answer.read(self.max_response_bytes + 1, decode_content=False)
            if len(data) <= self.max_response_bytes:
                answer.read(decode_content=False)  # at the end: raises if the body fell short of Content-Length
            else:
                answer.close()
                raise UpstreamUnavailable(f"{self.target.origin} answered more than "
                                          f"{self.max_response_bytes} bytes")
        except urllib3.exceptions.HTTPError as exc:
            raise UpstreamUnavailable(f"{self.target.origin} broke off its answer: {_reason(exc)}") from None
        finally:
            answer.release_conn()
        return answer.status, response_headers(answer.headers.items()), data


def _reason(exc: urllib3.exceptions.HTTPError) -> str:
    inner = getattr(exc, "reason", None)
    return str(inner or exc)
