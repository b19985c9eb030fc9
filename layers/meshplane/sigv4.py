"""Verify a request's SigV4 signature, for the servers that hold the signing secret themselves.

In AWS, API Gateway's IAM authorizer checks every signature before the API sees the
request.  Two meshplane servers stand where it would and must check one themselves:
the local emulator's authenticate endpoint (`meshplane.local.iam_authenticate`, which
knows the emulator's IAM keys) and `meshplane api-proxy` bound beyond loopback (which
accepts only its own key).  Neither is a Lambda function, and the API proxy runs from a
plain install, so this module is theirs alone and imports botocore only when it checks.
The signature is recomputed with botocore's `SigV4Auth`, never by hand.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

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


class UnknownKey(LookupError):
    """An access key (or session token) the verifier does not know, or no longer honours."""


class SigningKey(Protocol):
    """The secret half of an access key: what a signature is recomputed with."""

    @property
    def secret_key(self) -> str: ...

    @property
    def session_token(self) -> str | None: ...


@dataclass(frozen=True)
class Key:
    """A plain signing key, for a verifier that accepts one known key."""

    access_key: str
    secret_key: str
    session_token: str | None = None


K = TypeVar("K", bound=SigningKey)


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


def verify(request: SignedRequest, lookup: Callable[[str, str | None], K], now: datetime | None = None) -> K:
    """The key that signed `request`, as `lookup(access_key, session_token)` found it.

    Refused when the request is unsigned, malformed, stale, signed with a key `lookup`
    answers UnknownKey for, or forged.
    """
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
        key = lookup(access_key, request.header("X-Amz-Security-Token"))
    except UnknownKey as exc:
        raise Refused("UnrecognizedClientException",
                      f"The security token included in the request is invalid: {exc}") from None
    url = f"http://{request.header('host')}{request.path}" + (f"?{request.query}" if request.query else "")
    aws_request = AWSRequest(method=request.method.upper(), url=url, data=request.body,
                             headers={name: request.header(name) for name in signed})
    aws_request.context["timestamp"] = stamp
    auth = SigV4Auth(Credentials(access_key, key.secret_key, key.session_token), service, region)
    expected = auth.signature(auth.string_to_sign(aws_request, auth.canonical_request(aws_request)), aws_request)
    if not hmac.compare_digest(expected, found["signature"]):
        raise Refused("InvalidSignatureException",
                      "The request signature we calculated does not match the signature you provided")
    return key


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
