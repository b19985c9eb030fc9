"""`POST /_meshplane/authenticate`: verify one request's SigV4 signature against the emulator's keys.

API Gateway's IAM authorizer checks the signature of every request before the API
Lambda sees it and hands the Lambda the caller (`requestContext.identity`).  Locally the
API's HTTP server asks this endpoint, inside the moto process, which alone knows the
secret keys of the emulator's IAM users and assumed-role sessions.

The request body is JSON: `method`, `path` (as sent, still percent-encoded), `query`,
`headers`, `body` (base64), and optionally `services` (accepted signing names) and
`region`.  The answer is 200 with the caller (`arn`, `account`, `userId`, `accessKey`,
`principalArn`, `type`), or 403 with an API Gateway error code and message.  The
signature check itself is `meshplane.sigv4`'s, shared with `meshplane api-proxy`.
"""

from __future__ import annotations

import json
from typing import Any

from meshplane.local import iam_principals
from meshplane.sigv4 import Refused, SignedRequest, verify

PATH = "/_meshplane/authenticate"


def identity(credentials: iam_principals.Credentials) -> dict[str, str]:
    principal = credentials.principal
    return {"arn": principal.arn, "account": principal.account, "userId": principal.user_id,
            "accessKey": credentials.access_key, "principalArn": principal.principal_arn, "type": principal.kind}


# --- the endpoint in moto's WSGI application ------------------------------------------------


def install() -> None:
    """Serve PATH from moto's server application (both `moto.server` and ThreadedMotoServer)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__
    if getattr(original, "_meshplane", False):
        return

    def dispatch(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == PATH:
            return _endpoint(environ, start_response)
        return original(self, environ, start_response)

    dispatch._meshplane = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.__call__ = dispatch  # type: ignore[method-assign]


def answer(method: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """The endpoint's status and JSON answer for one request to it."""
    if method != "POST":
        return 405, {"code": "MethodNotAllowed", "message": f"{PATH} takes POST"}
    try:
        request = SignedRequest.from_json(json.loads(body or b"{}"))
    except ValueError as exc:
        return 400, {"code": "BadRequest", "message": str(exc)}
    try:
        return 200, identity(verify(request, iam_principals.by_access_key))
    except Refused as exc:
        return 403, {"code": exc.code, "message": exc.message}


def _endpoint(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    status, content = answer(environ.get("REQUEST_METHOD", "GET"), body)
    data = json.dumps(content).encode()
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
