"""Check a proof and let STS say whose it is.

Before anything leaves the server, the proof must be a POST of exactly
`Action=GetCallerIdentity&Version=2011-06-15` to an allowed STS endpoint, with this
server's id, the expected key digest and a nonce among its *signed* headers (a header
STS does not check the signature of proves nothing), an `X-Amz-Date` within ±5 minutes,
and no header that would change what is sent (Host, Content-Length, ...). Then the
request goes to STS unchanged, once (the proxy retries, not the server), and STS's
answer names the principal. Only then is the nonce claimed, so a stranger's junk
proofs cannot fill the replay cache, and two concurrent replays of one proof cannot
both win: the claim is atomic.
"""

from __future__ import annotations

import calendar
import re
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from meshplane.identity.account import MeshAccount
from meshplane.identity.endpoints import EndpointRefused, StsEndpoints
from meshplane.identity.errors import BadRequest, Forbidden, ServiceUnavailable, TooManyRequests
from meshplane.identity.nonces import NonceCache, NoncesFull
from meshplane.identity.proof import KEY_HEADER, NONCE_HEADER, SERVER_ID_HEADER, Proof

MAX_SKEW_S = 300.0
STS_TIMEOUT_S = 5.0
# Headers that would change the request sent, or that only the server's HTTP client may set.
FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "expect", "te",
                               "upgrade", "proxy-authorization", "keep-alive", "trailer"})  # fmt: skip
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=[^,\s]+,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=[0-9a-f]{64}")


@dataclass(frozen=True)
class Caller:
    """What STS said about the signer."""

    arn: str
    account: str


Post = Callable[[str, dict[str, str], bytes], tuple[int, bytes]]


def _ca_bundle() -> str | bool:
    """What boto3 itself would verify STS with: `ca_bundle` of its configuration (AWS_CA_BUNDLE, the profile),
    else botocore's own bundle."""
    import botocore.session

    return botocore.session.get_session().get_config_variable("ca_bundle") or True


def https_post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """One POST through botocore's HTTP session (boto3's CA bundle, proxies from the environment), no retries:
    the proxy retries with a new proof."""
    from botocore.awsrequest import AWSRequest
    from botocore.httpsession import URLLib3Session
    from botocore.utils import get_environ_proxies

    # botocore-stubs narrow `verify` to bool and `timeout` to int; botocore takes a CA bundle path and float seconds
    session = URLLib3Session(
        verify=_ca_bundle(), timeout=STS_TIMEOUT_S, proxies=get_environ_proxies(url)  # type: ignore[arg-type]
    )
    try:
        response = session.send(AWSRequest(method="POST", url=url, data=body, headers=headers).prepare())
        return response.status_code, response.content
    finally:
        session.close()


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _sts_answer(status: int, body: bytes) -> Caller:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise ServiceUnavailable(f"STS answered {status} with no XML") from None
    fields = {_local_name(e.tag): (e.text or "").strip() for e in root.iter()}
    if status == 200 and fields.get("Arn") and fields.get("Account"):
        return Caller(fields["Arn"], fields["Account"])
    if 400 <= status < 500:
        raise Forbidden(f"STS refused the proof: {fields.get('Code') or status}: {fields.get('Message', '')}".strip())
    raise ServiceUnavailable(f"STS answered {status}: {fields.get('Code', '')}")


class ProofVerifier:
    def __init__(self, server_id: str, account: MeshAccount, endpoints: StsEndpoints, nonces: NonceCache,
                 post: Post = https_post, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.server_id = server_id
        self._account = account
        self._endpoints = endpoints
        self._nonces = nonces
        self._post = post
        self._clock = clock

    def verify(self, proof: Proof, key_sha256: str) -> Caller:
        """The caller STS names for `proof`; BadRequest/Forbidden/TooManyRequests/ServiceUnavailable otherwise."""
        headers = self._check_request(proof)
        self._check_bound(headers, key_sha256)
        signed_at = self._check_date(headers)
        try:
            status, body = self._post(proof.url, dict(proof.headers), proof.raw_body())
        except OSError as exc:
            raise ServiceUnavailable(f"STS could not be reached: {type(exc).__name__}") from None
        caller = _sts_answer(status, body)
        if caller.account != self._account.account or not self._account.principal_arn_is_ours(caller.arn):
            raise Forbidden(f"{caller.arn} is not a principal of account {self._account.account}")
        try:
            if not self._nonces.claim(headers[NONCE_HEADER], signed_at + MAX_SKEW_S):
                raise Forbidden("this proof was already used: sign a new one")
        except NoncesFull as exc:
            raise TooManyRequests(str(exc)) from None
        return caller

    def _check_request(self, proof: Proof) -> dict[str, str]:
        if proof.method != "POST":
            raise BadRequest("proof.method must be POST")
        try:
            self._endpoints.check(proof.url)
        except EndpointRefused as exc:
            raise BadRequest(f"proof.url: {exc}") from None
        try:
            body = proof.raw_body().decode("ascii")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("proof.body must be base64 of the form-encoded GetCallerIdentity request") from None
        if parse_qs(body, keep_blank_values=True) != {"Action": ["GetCallerIdentity"], "Version": ["2011-06-15"]}:
            raise BadRequest("proof.body must be exactly Action=GetCallerIdentity&Version=2011-06-15")
        headers: dict[str, str] = {}
        for name, value in proof.headers.items():
            lower = name.lower()
            if lower in headers:
                raise BadRequest(f"proof.headers: {lower} is given twice")
            if lower in FORBIDDEN_HEADERS:
                raise BadRequest(f"proof.headers: {lower} may not be set by the proof")
            headers[lower] = value
        match = _AUTH.fullmatch(headers.get("authorization", ""))
        if match is None:
            raise BadRequest("proof.headers: authorization must be one AWS4-HMAC-SHA256 signature")
        signed = set(match.group(1).split(";"))
        unsigned = sorted(set(headers) - signed - {"authorization"})
        if unsigned:
            raise BadRequest(f"proof.headers: {', '.join(unsigned)} must be signed")
        missing = sorted({"host", "x-amz-date", SERVER_ID_HEADER, NONCE_HEADER, KEY_HEADER} - signed)
        if missing:
            raise BadRequest(f"proof.headers: the signature must cover {', '.join(missing)}")
        return headers

    def _check_bound(self, headers: dict[str, str], key_sha256: str) -> None:
        if headers[SERVER_ID_HEADER] != self.server_id:
            raise Forbidden(f"the proof was made for server {headers[SERVER_ID_HEADER]!r}, not {self.server_id!r}")
        if not _DIGEST.fullmatch(headers[KEY_HEADER]) or headers[KEY_HEADER] != key_sha256:
            raise Forbidden(f"the proof was made for another key than the CSR's ({KEY_HEADER})")
        if not _NONCE.fullmatch(headers[NONCE_HEADER]):
            raise BadRequest(f"proof.headers: {NONCE_HEADER} must be 16 to 128 URL-safe characters")

    def _check_date(self, headers: dict[str, str]) -> float:
        try:
            signed_at = float(calendar.timegm(time.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ")))
        except (KeyError, ValueError):
            raise BadRequest("proof.headers: x-amz-date must be YYYYMMDDTHHMMSSZ") from None
        if abs(self._clock() - signed_at) > MAX_SKEW_S:
            raise Forbidden(f"the proof was signed at {headers['x-amz-date']}, more than 5 minutes from now")
        return signed_at
