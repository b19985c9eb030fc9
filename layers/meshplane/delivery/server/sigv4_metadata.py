"""What a SigV4-signed gRPC call says about itself, read without the secret that signed it.

The App Mesh Envoy image signs each ADS stream for the `appmesh` service
(`envoy.grpc_credentials.aws_iam`): the call's metadata carries `authorization`
(`AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/<service>/aws4_request,
SignedHeaders=..., Signature=<hex>`), `x-amz-date` and, for temporary credentials,
`x-amz-security-token`. Only AWS holds the secret behind the key id, so nobody else can
tell a real signature from 64 random hex digits. What can be read is the claim: which
key id, for which service and region, when. `read_signed_call` parses that claim and
refuses metadata that is missing, malformed or does not hold together (a scope date
other than the signing date, a date or token the signature does not cover).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

AUTHORIZATION = "authorization"
DATE = "x-amz-date"
TOKEN = "x-amz-security-token"
ALGORITHM = "AWS4-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_AUTHORIZATION = 4096  # far above any real one (a key id, a scope, a dozen header names, 64 hex digits)

_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")  # IAM's AccessKeyId: 16 to 128 word characters, upper case in practice
_SCOPE_PART = re.compile(r"[a-z0-9-]{1,64}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_HEADER_NAMES = re.compile(r"[a-z0-9-]+(;[a-z0-9-]+)*")


class Unsigned(ValueError):
    """The call carries no readable SigV4 signature; the message says what is wrong, never a secret."""


@dataclass(frozen=True)
class SignedCall:
    """The claim a SigV4 signature makes: who (key id), for what (region, service), when."""

    access_key_id: str
    region: str
    service: str
    signed_at: dt.datetime
    temporary: bool  # a session token came with it (a role's credentials, as on ECS and EC2)


def read_signed_call(metadata: Mapping[str, str]) -> SignedCall:
    """The claim in the call's metadata (names lower case, as gRPC delivers them); Unsigned if there is none."""
    authorization = metadata.get(AUTHORIZATION)
    if not authorization:
        raise Unsigned("the call carries no SigV4 authorization metadata")
    if len(authorization) > MAX_AUTHORIZATION:
        raise Unsigned(f"authorization metadata over {MAX_AUTHORIZATION} characters")
    fields = _fields(authorization)
    key_id, date, region, service = _scope(fields["Credential"])
    signed = fields["SignedHeaders"]
    if not _HEADER_NAMES.fullmatch(signed):
        raise Unsigned("SignedHeaders must be lower-case header names joined by ';'")
    covered = set(signed.split(";"))
    if not {"host", DATE} <= covered:
        raise Unsigned("the signature must cover host and x-amz-date")
    if not _SIGNATURE.fullmatch(fields["Signature"]):
        raise Unsigned("Signature must be 64 lower-case hex digits")
    signed_at = _signing_time(metadata.get(DATE, ""))
    if signed_at.strftime("%Y%m%d") != date:
        raise Unsigned(f"the credential scope's date {date} is not the x-amz-date's")
    temporary = TOKEN in metadata
    if temporary and TOKEN not in covered:
        raise Unsigned("x-amz-security-token is sent but not signed")
    return SignedCall(key_id, region, service, signed_at, temporary)


def _fields(authorization: str) -> dict[str, str]:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise Unsigned(f"authorization must use {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, value = part.strip().partition("=")
        if not equals or name in fields:
            raise Unsigned("authorization must be Credential=..., SignedHeaders=..., Signature=... once each")
        fields[name] = value
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise Unsigned("authorization must be Credential=..., SignedHeaders=..., Signature=... once each")
    return fields


def _scope(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise Unsigned("Credential must be <access key id>/<date>/<region>/<service>/aws4_request")
    key_id, date, region, service, _ = parts
    if not _KEY_ID.fullmatch(key_id):
        raise Unsigned("the Credential's access key id is malformed")
    if not (date.isdigit() and len(date) == 8 and _SCOPE_PART.fullmatch(region) and _SCOPE_PART.fullmatch(service)):
        raise Unsigned("the Credential's scope must be <yyyymmdd>/<region>/<service>")
    return key_id, date, region, service


def _signing_time(stamp: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(stamp, DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise Unsigned("x-amz-date must be present as YYYYMMDDTHHMMSSZ") from None
