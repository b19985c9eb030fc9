"""`POST /_meshplane/authenticate`: verify one request's SigV4 signature against the emulator's keys.

API Gateway's IAM authorizer checks the signature of every request before the API
Lambda sees it and hands the Lambda the caller (`requestContext.identity`).  Locally the
API's HTTP server asks this endpoint, inside the moto process, which alone knows the
secret keys of the emulator's IAM users and assumed-role sessions.

The request body is JSON: `method`, `path` (as sent, still percent-encoded), `query`,
`headers`, `body` (base64), and optionally `services` (accepted signing names) and
`region`.  The answer is 200 with the caller (`arn`, `account`, `userId`, `accessKey`,
`principalArn`, `type`), or 403 with an API Gateway error code and message.  The
signature is recomputed with botocore's `SigV4Auth`, never by hand.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from meshplane.local import iam_principals

PATH = "/_meshplane/authenticate"
MAX_SKEW = timedelta(minutes=5)  # what AWS allows between X-Amz-Date and its clock
_ALGORITHM = "AWS4-HMAC-SHA256"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*"
)


class Refused(Exception):
    """Not authenticated: `code` is the error type API Gateway answers with (all 403)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str  # as on the wire, percent-encoded
    query: str
    headers: Mapping[str, str]
    body: bytes
    services: tuple[str, ...] = ("execute-api",)
    region: str | None = None
    _lower: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lower", {k.lower(): v for k, v in self.headers.items()})

    def header(self, name: str) -> str | None:
        return self._lower.get(name.lower())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedRequest:
        try:
            headers = data["headers"]
            if not isinstance(headers, Mapping):
                raise TypeError("headers must be an object")
            return cls(
                method=str(data["method"]),
                path=str(data["path"]),
                query=str(data.get("query") or ""),
                headers={str(k): str(v) for k, v in headers.items()},
                body=base64.b64decode(data.get("body") or "", validate=True),
                services=tuple(data.get("services") or ("execute-api",)),
                region=data.get("region"),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ValueError(f"malformed authentication request: {exc}") from None


Lookup = Callable[[str, str | None], iam_principals.Credentials]


def verify(request: SignedRequest, now: datetime | None = None,
           lookup: Lookup = iam_principals.by_access_key) -> iam_principals.Credentials:
    """The credentials that signed `request`; Refused when unsigned, malformed, stale, unknown or forged."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = request.header("Authorization")
    if not authorization:
        raise Refused("MissingAuthenticationTokenException", "Missing Authentication Token")
    found = _AUTHORIZATION.fullmatch(authorization.strip())
    if found is None:
        raise Refused("IncompleteSignatureException",
                      f"Authorization header requires {_ALGORITHM} with Credential, SignedHeaders and Signature")
    scope = found["credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise Refused("IncompleteSignatureException", "Credential must be <key>/<date>/<region>/<service>/aws4_request")
    access_key, date, region, service, _ = scope
    if service not in request.services:
        raise Refused("InvalidSignatureException",
                      f"Credential should be scoped to a valid service: one of {', '.join(request.services)}")
    if request.region is not None and region != request.region:
        raise Refused("InvalidSignatureException", f"Credential should be scoped to a valid region: {request.region}")
    signed = found["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        raise Refused("IncompleteSignatureException", "SignedHeaders must include host and x-amz-date")
    missing = [name for name in signed if request.header(name) is None]
    if missing:
        raise Refused("IncompleteSignatureException", f"signed headers missing from the request: {', '.join(missing)}")
    stamp = request.header("X-Amz-Date") or ""
    _check_time(stamp, date, now or datetime.now(UTC))
    claimed = request.header("X-Amz-Content-SHA256")
    if claimed is not None and claimed != hashlib.sha256(request.body).hexdigest():
        raise Refused("InvalidSignatureException", "X-Amz-Content-SHA256 does not match the request body")
    try:
        credentials = lookup(access_key, request.header("X-Amz-Security-Token"))
    except iam_principals.InvalidCredentials as exc:
        raise Refused("UnrecognizedClientException",
                      f"The security token included in the request is invalid: {exc}") from None
    url = f"http://{request.header('host')}{request.path}" + (f"?{request.query}" if request.query else "")
    aws_request = AWSRequest(method=request.method.upper(), url=url, data=request.body,
                             headers={name: request.header(name) for name in signed})
    aws_request.context["timestamp"] = stamp
    auth = SigV4Auth(Credentials(access_key, credentials.secret_key, credentials.session_token), service, region)
    expected = auth.signature(auth.string_to_sign(aws_request, auth.canonical_request(aws_request)), aws_request)
    if not hmac.compare_digest(expected, found["signature"]):
        raise Refused("InvalidSignatureException",
                      "The request signature we calculated does not match the signature you provided")
    return credentials


def _check_time(stamp: str, scope_date: str, now: datetime) -> None:
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise Refused("IncompleteSignatureException",
                      f"X-Amz-Date must be an ISO 8601 basic timestamp: {stamp!r}") from None
    if stamp[:8] != scope_date:
        raise Refused("InvalidSignatureException", "the Credential scope date does not match X-Amz-Date")
    if abs(now - signed_at) > MAX_SKEW:
        raise Refused("InvalidSignatureException",
                      f"Signature expired: {stamp} is not within {int(MAX_SKEW.total_seconds() // 60)} minutes "
                      f"of {now.strftime('%Y%m%dT%H%M%SZ')}")


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
        return 200, identity(verify(request))
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
