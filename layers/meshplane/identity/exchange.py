"""`POST /v1/credentials`: a proof of an IAM principal and a CSR in, a node certificate out.

`{nodeId, csr, proof}` -> `{certificateChain, caBundle, expiresAt}` (epoch seconds, as App
Mesh's JSON timestamps). The steps, each failing closed with App Mesh's error shapes:
the node id must be a node of the server's own account and region; the CSR must be
signed by its key; the proof must pass `ProofVerifier` for that key; IAM must allow the
principal `appmesh:StreamAggregatedResources` on the node's ARN. The log line of an issue
names principal, node, serial and expiry, never the proof or a key.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from meshplane.identity.account import ForeignNode, MeshAccount
from meshplane.identity.authorization import STREAM_ACTION, NodeAuthorizer
from meshplane.identity.ca import CsrRejected, NodeCA, load_csr
from meshplane.identity.defaults import NODE_CERT_MINUTES
from meshplane.identity.errors import BadRequest, ExchangeError, Forbidden, access_denied
from meshplane.identity.principals import Principals
from meshplane.identity.proof import Proof, key_digest
from meshplane.identity.verify import ProofVerifier

log = logging.getLogger(__name__)
NODE_CERT_LIFETIME = dt.timedelta(minutes=NODE_CERT_MINUTES)


class CredentialsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nodeId: str = Field(min_length=1, max_length=2048)
    csr: str = Field(min_length=1, max_length=16384)
    proof: Proof


def _bad_request(error: ValidationError) -> BadRequest:
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    return BadRequest(f"{field}: {first['msg']}")


@dataclass
class CredentialExchange:
    account: MeshAccount
    ca: NodeCA
    verifier: ProofVerifier
    principals: Principals
    authorizer: NodeAuthorizer
    lifetime: dt.timedelta = NODE_CERT_LIFETIME

    def handle(self, body: bytes) -> dict[str, object]:
        """The JSON answer to a request body; ExchangeError for every refusal."""
        try:
            request = CredentialsRequest.model_validate(json.loads(body))
        except json.JSONDecodeError:
            raise BadRequest("the body must be a JSON object") from None
        except ValidationError as exc:
            raise _bad_request(exc) from None
        return self.issue(request)

    def issue(self, request: CredentialsRequest) -> dict[str, object]:
        try:
            proxy = self.account.proxy(request.nodeId)
        except ForeignNode as exc:
            raise Forbidden(f"nodeId: {exc}") from None
        except ValueError as exc:
            raise BadRequest(f"nodeId: {exc}") from None
        try:
            csr = load_csr(request.csr)
        except CsrRejected as exc:
            raise BadRequest(str(exc)) from None
        caller = self.verifier.verify(request.proof, key_digest(csr.public_key()))
        principal = self.principals.principal(caller.arn)
        node_arn = self.account.node_arn(proxy)
        if not self.authorizer.allowed(principal, node_arn):
            raise access_denied(principal, STREAM_ACTION, node_arn)
        certificate = self.ca.issue_node(csr, node_arn, principal, self.lifetime)
        log.info("issued certificate %x for %s to %s, valid until %s", certificate.serial_number, node_arn,
                 principal, certificate.not_valid_after_utc.isoformat())  # fmt: skip
        from cryptography.hazmat.primitives import serialization

        return {
            "certificateChain": certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "caBundle": self.ca.certificate_pem.decode(),
            "expiresAt": certificate.not_valid_after_utc.timestamp(),
        }


__all__ = ["CredentialExchange", "CredentialsRequest", "ExchangeError"]
