"""A proof names its signer only if it is fresh, unused, made for this server and this key, and really goes to STS."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from meshplane.identity.endpoints import StsEndpoints
from meshplane.identity.errors import BadRequest, Forbidden, ServiceUnavailable, TooManyRequests
from meshplane.identity.nonces import NonceCache
from meshplane.identity.proof import CONTENT_TYPE, STS_BODY, Proof, sign_proof
from meshplane.identity.verify import ProofVerifier, https_post

from .conftest import MESH_ACCOUNT, REGION, SERVER, Aws

KEY = "ab" * 32


class Recorder:
    """The real HTTP post, recording every URL it was asked to reach."""

    def __init__(self, answer: tuple[int, bytes] | None = None) -> None:
        self.urls: list[str] = []
        self._answer = answer

    def __call__(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        self.urls.append(url)
        return self._answer if self._answer else https_post(url, headers, body)


def verifier(aws: Aws, post: Any = None, clock: Any = time.time, nonces: NonceCache | None = None) -> ProofVerifier:
    endpoints = StsEndpoints("aws", [aws.endpoint])
    return ProofVerifier(
        SERVER, MESH_ACCOUNT, endpoints, NonceCache() if nonces is None else nonces, post or Recorder(), clock
    )


def proof(aws: Aws, credentials: Any, **changes: Any) -> Proof:
    made = {"url": aws.endpoint, "region": REGION, "server_id": SERVER, "public_key_sha256": KEY, **changes}
    return sign_proof(credentials, **made)


def test_a_proof_names_the_role_session_that_signed_it(aws: Aws) -> None:
    _, credentials = aws.role()
    caller = verifier(aws).verify(proof(aws, credentials), KEY)
    assert caller.account == MESH_ACCOUNT.account
    assert caller.arn.startswith(f"arn:aws:sts::{MESH_ACCOUNT.account}:assumed-role/proxy-")


def test_a_replayed_proof_is_refused(aws: Aws) -> None:
    _, credentials = aws.role()
    check, made = verifier(aws), proof(aws, credentials)
    check.verify(made, KEY)
    with pytest.raises(Forbidden, match="already used"):
        check.verify(made, KEY)


def test_a_proof_made_for_another_server_is_refused_before_it_reaches_sts(aws: Aws) -> None:
    _, credentials = aws.role()
    post = Recorder()
    with pytest.raises(Forbidden, match=r"made for server 'other\.meshplane\.test'"):
        verifier(aws, post).verify(proof(aws, credentials, server_id="other.meshplane.test"), KEY)
    assert post.urls == []


def test_a_proof_made_for_another_key_is_refused(aws: Aws) -> None:
    _, credentials = aws.role()
    with pytest.raises(Forbidden, match="another key"):
        verifier(aws).verify(proof(aws, credentials, public_key_sha256="cd" * 32), KEY)


def test_a_principal_of_another_account_is_refused(aws: Aws) -> None:
    _, credentials = aws.role(account="999999999999")
    with pytest.raises(Forbidden, match="not a principal of account 123456789012"):
        verifier(aws).verify(proof(aws, credentials), KEY)


@pytest.mark.parametrize("url", ["https://evil.example/", "http://169.254.169.254/latest/meta-data/",
                                 "https://sts.us-east-1.amazonaws.com.evil.example/"])  # fmt: skip
def test_a_proof_pointing_elsewhere_than_sts_is_never_sent(aws: Aws, url: str) -> None:
    _, credentials = aws.role()
    post = Recorder()
    with pytest.raises(BadRequest, match=r"proof\.url"):
        verifier(aws, post).verify(proof(aws, credentials, url=url), KEY)
    assert post.urls == []


def test_a_proof_older_than_five_minutes_is_refused(aws: Aws) -> None:
    _, credentials = aws.role()
    later = verifier(aws, clock=lambda: time.time() + 301)
    with pytest.raises(Forbidden, match="more than 5 minutes"):
        later.verify(proof(aws, credentials), KEY)


def _signed(aws: Aws, credentials: Any, headers: dict[str, str], body: bytes = STS_BODY,
            added_after_signing: dict[str, str] | None = None) -> Proof:  # fmt: skip
    request = AWSRequest(method="POST", url=aws.endpoint, data=body, headers={"Content-Type": CONTENT_TYPE, **headers})
    SigV4Auth(credentials, "sts", REGION).add_auth(request)
    signed = {**{k: str(v) for k, v in request.headers.items()}, **(added_after_signing or {})}
    return Proof(method="POST", url=aws.endpoint, headers=signed, body=base64.b64encode(body).decode())


BOUND = {"x-meshplane-server-id": SERVER, "x-meshplane-nonce": "n" * 32, "x-meshplane-key-sha256": KEY}


def test_binding_headers_that_the_signature_does_not_cover_prove_nothing(aws: Aws) -> None:
    _, credentials = aws.role()
    post = Recorder()
    unbound = _signed(aws, credentials, {}, added_after_signing=BOUND)
    with pytest.raises(BadRequest, match="must be signed"):
        verifier(aws, post).verify(unbound, KEY)
    assert post.urls == []


def test_a_signed_request_for_another_sts_action_is_refused(aws: Aws) -> None:
    _, credentials = aws.role()
    body = b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/admin&RoleSessionName=x"
    with pytest.raises(BadRequest, match="exactly Action=GetCallerIdentity"):
        verifier(aws).verify(_signed(aws, credentials, BOUND, body), KEY)


def test_a_host_header_that_would_redirect_the_request_is_refused(aws: Aws) -> None:
    _, credentials = aws.role()
    with pytest.raises(BadRequest, match="host may not be set"):
        verifier(aws).verify(_signed(aws, credentials, {**BOUND, "Host": "169.254.169.254"}), KEY)


ERROR = b"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>
<Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>
</ErrorResponse>"""


def test_a_proof_sts_refuses_is_forbidden_and_its_nonce_stays_unused(aws: Aws) -> None:
    _, credentials = aws.role()
    nonces, made = NonceCache(), proof(aws, credentials)
    with pytest.raises(Forbidden, match="SignatureDoesNotMatch"):
        verifier(aws, Recorder((403, ERROR)), nonces=nonces).verify(made, KEY)
    assert len(nonces) == 0


def test_sts_out_of_reach_is_service_unavailable(aws: Aws) -> None:
    _, credentials = aws.role()

    def unreachable(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        raise ConnectionRefusedError

    with pytest.raises(ServiceUnavailable, match="could not be reached"):
        verifier(aws, unreachable).verify(proof(aws, credentials), KEY)


def test_a_full_replay_cache_refuses_new_proofs_rather_than_forget_live_nonces(aws: Aws) -> None:
    _, credentials = aws.role()
    check = verifier(aws, nonces=NonceCache(max_entries=1))
    check.verify(proof(aws, credentials), KEY)
    with pytest.raises(TooManyRequests):
        check.verify(proof(aws, credentials), KEY)
