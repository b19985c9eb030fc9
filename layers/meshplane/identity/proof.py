"""The proof of an IAM principal: a SigV4-signed `sts:GetCallerIdentity` request, made but never sent.

The proxy host signs the request with its own credentials and hands it over; whoever
holds it can ask STS who signed it, and nothing else, so the credentials themselves
never leave the host. Three extra headers are signed with it, so the request means
more than "someone of this principal signed something within 15 minutes":
- `x-meshplane-server-id`: the audience. A proof made for one meshplane server is
  refused by any other, so a server (or anyone it logs to) cannot replay it elsewhere;
- `x-meshplane-nonce`: random; each server accepts a proof once;
- `x-meshplane-key-sha256`: the SHA-256 of the public key the proxy asks a certificate
  for. A proof taken off the wire is worth nothing to a thief, even at another replica
  that has not seen its nonce: the certificate would be for the proxy's key, not theirs.
Signing is botocore's (`SigV4Auth` on an `AWSRequest`), the endpoint is what boto3
resolves for STS in the proxy's region (the regional endpoint, or `AWS_ENDPOINT_URL`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pydantic import BaseModel, ConfigDict, Field, field_validator

SERVER_ID_HEADER = "x-meshplane-server-id"
NONCE_HEADER = "x-meshplane-nonce"
KEY_HEADER = "x-meshplane-key-sha256"
BOUND_HEADERS = (SERVER_ID_HEADER, NONCE_HEADER, KEY_HEADER)
STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
CREDENTIALS_PATH = "/v1/credentials"  # the exchange: POST {nodeId, csr, proof}
CA_PATH = "/v1/ca"  # GET: the node CA certificate (a convenience; see store.py on trust)
GLOBAL_STS_HOST = "sts.amazonaws.com"  # signed for us-east-1 whatever the caller's region
MAX_HEADERS = 16
MAX_HEADER_VALUE = 4096


class Proof(BaseModel):
    """The signed request as JSON: `{method, url, headers, body}` with a base64 body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = Field(max_length=16)
    url: str = Field(max_length=2048)
    headers: dict[str, str]
    body: str = Field(max_length=1024)

    @field_validator("headers")
    @classmethod
    def _bounded(cls, headers: dict[str, str]) -> dict[str, str]:
        if len(headers) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        for name, value in headers.items():
            if not 0 < len(name) <= 64 or len(value) > MAX_HEADER_VALUE:
                raise ValueError(f"header {name[:64]!r} is too long")
        return headers

    def raw_body(self) -> bytes:
        return base64.b64decode(self.body, validate=True)


def key_digest(public_key: PublicKeyTypes) -> str:
    """Hex SHA-256 of the DER SubjectPublicKeyInfo: what `x-meshplane-key-sha256` carries."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def sts_endpoint(session: Any, region: str) -> str:
    """The STS endpoint boto3 itself would call in `region` (`AWS_ENDPOINT_URL[_STS]` included)."""
    return str(session.client("sts", region_name=region).meta.endpoint_url)


def sign_proof(credentials: Any, url: str, region: str, server_id: str, public_key_sha256: str,
               nonce: str | None = None) -> Proof:  # fmt: skip
    """Sign GetCallerIdentity for `url` with `credentials` (botocore credentials), bound to the server and key."""
    from urllib.parse import urlsplit

    signing_region = "us-east-1" if urlsplit(url).hostname == GLOBAL_STS_HOST else region
    request = AWSRequest(
        method="POST", url=url, data=STS_BODY,
        headers={
            "Content-Type": CONTENT_TYPE, SERVER_ID_HEADER: server_id, NONCE_HEADER: nonce or new_nonce(),
            KEY_HEADER: public_key_sha256,
        },
    )  # fmt: skip
    SigV4Auth(credentials, "sts", signing_region).add_auth(request)
    return Proof(
        method="POST", url=url, headers={k: str(v) for k, v in request.headers.items()},
        body=base64.b64encode(STS_BODY).decode(),
    )  # fmt: skip
