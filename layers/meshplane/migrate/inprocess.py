"""A boto3 `appmesh` client whose requests the meshplane API serves in this process, without HTTP.

botocore emits `before-send` with the fully serialized request just before it would
open a connection, and sends nothing when a handler returns a response.  This handler
turns the request into the API Gateway proxy event the deployed API receives
(`meshplane.api.http.to_event`), runs `Api.handle` on it and hands botocore the proxy
response, which botocore then parses as App Mesh's own.  So code written against an
`appmesh` client (the import's planner, the custom resource provider) runs unchanged
against the store, with the API's validation, rules and error shapes, and no network hop.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from meshplane.api.app import Api

ENDPOINT = "https://meshplane.in-process"  # never resolved: every request is answered before it is sent
SEND_EVENT = "before-send.app-mesh"


class _Body:
    """What botocore reads a response body from (`raw.stream()`)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def serve(api: Api, request: Any, **_: Any) -> Any:
    """The `before-send` handler: `request` (an AWSPreparedRequest) answered by `api`."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    from meshplane.api.http import to_event

    parts = urlsplit(request.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        body = body.read()
    headers = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
    response = api.handle(to_event(request.method, target, headers, body))
    payload = response.get("body") or ""
    data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode("utf-8")
    reply_headers = HTTPHeaders.from_dict(response.get("headers") or {})
    return AWSResponse(request.url, int(response["statusCode"]), reply_headers, _Body(data))


def client(api: Api, region: str, session: Any = None) -> Any:
    """An `appmesh` client of `api`: unsigned (nothing leaves the process), App Mesh's retry rules.

    `session`: the boto3 session to make it from (None: boto3's default session)."""
    from botocore import UNSIGNED
    from botocore.config import Config

    if session is None:
        import boto3

        session = boto3
    appmesh = session.client("appmesh", region_name=region, endpoint_url=ENDPOINT,
                             config=Config(signature_version=UNSIGNED, retries={"mode": "standard"}))
    appmesh.meta.events.register(SEND_EVENT, lambda request, **kw: serve(api, request, **kw),
                                 unique_id="meshplane-in-process")
    return appmesh
