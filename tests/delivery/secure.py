"""A secure ADS for tests: node identity over the wrapper's moto (its IAM policy simulator), and raw gRPC clients
holding node certificates the node CA issued for chosen node and principal names."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import grpc
from authz.iamlab import ACCOUNT, REGION, IamLab
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from meshplane.identity.account import MeshAccount
from meshplane.identity.agent import make_csr
from meshplane.identity.ca import NodeCA, load_csr
from meshplane.identity.server import NodeIdentity, build_node_identity

from .harness import Aws
from .rawclient import RawStream

SERVER = "ads.meshplane.test"
ACCOUNT_SCOPE = MeshAccount("aws", REGION, ACCOUNT)
STREAM = "appmesh:StreamAggregatedResources"


def node_arn(path: str) -> str:
    return f"arn:aws:appmesh:{REGION}:{ACCOUNT}:{path}"


def node_identity(lab: IamLab, **options: Any) -> NodeIdentity:
    """Node identity with a fresh CA, the emulator's IAM and STS; exchange on a free port."""
    return build_node_identity(
        account=ACCOUNT_SCOPE, ca=NodeCA.generate(), iam=lab.client("iam"), server_name=SERVER,
        sts_endpoints=[lab.endpoint], identity_port=0, **options,
    )  # fmt: skip


def role_for(lab: IamLab, *node_paths: str) -> str:
    """A role whose policy allows StreamAggregatedResources on these nodes; returns its ARN."""
    allow = {"Effect": "Allow", "Action": STREAM, "Resource": [node_arn(p) for p in node_paths]}
    statements = [allow] if node_paths else []
    return f"arn:aws:iam::{ACCOUNT}:role/{lab.role(*statements)}"


def revoke(lab: IamLab, role_arn: str) -> None:
    lab.iam.delete_role_policy(RoleName=role_arn.rpartition("/")[2], PolicyName="inline")


@dataclass(frozen=True)
class NodeCertificate:
    chain: bytes
    key: bytes

    def credentials(self, trusted: bytes) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(trusted, self.key, self.chain)


def issue(ca: NodeCA, node: str, principal: str, *, lifetime: dt.timedelta = dt.timedelta(hours=1),
          now: dt.datetime | None = None) -> NodeCertificate:  # fmt: skip
    """What the exchange would issue to `principal` for `node` (an ARN), without asking anyone."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = ca.issue_node(load_csr(make_csr(key, node)), node, principal, lifetime, now)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    return NodeCertificate(certificate.public_bytes(serialization.Encoding.PEM), key_pem)


def tls_stream(address: str, ca: NodeCA, certificate: NodeCertificate | None, *, delta: bool = False) -> RawStream:
    if certificate is None:
        credentials = grpc.ssl_channel_credentials(ca.certificate_pem)
    else:
        credentials = certificate.credentials(ca.certificate_pem)
    return RawStream(address, delta=delta, credentials=credentials, authority=SERVER)


def lab_aws(lab: IamLab) -> Aws:
    """Fresh bucket and queue on the emulator, for one test."""
    return Aws(lab.endpoint).create()

