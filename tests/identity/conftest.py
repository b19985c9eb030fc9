"""Identity fixtures: a moto server (STS, IAM, S3, Secrets Manager), role sessions on it, and a node identity
whose IAM decisions come from a grant table (moto has no iam:SimulatePrincipalPolicy)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.credentials import ReadOnlyCredentials
from meshplane.identity.account import MeshAccount
from meshplane.identity.ca import NodeCA
from meshplane.identity.server import NodeIdentity, build_node_identity
from support.moto import moto_server

REGION = "us-east-1"
ACCOUNT = "123456789012"
SERVER = "ads.meshplane.test"
MESH_ACCOUNT = MeshAccount("aws", REGION, ACCOUNT)
NODE = "mesh/shop/virtualNode/front"
NODE_ARN = f"arn:aws:appmesh:{REGION}:{ACCOUNT}:{NODE}"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    yield from moto_server()


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Aws:
    endpoint: str

    def client(self, service: str, credentials: ReadOnlyCredentials | None = None) -> Any:
        keys = credentials or ReadOnlyCredentials("testing", "testing", None)
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=keys.access_key,
            aws_secret_access_key=keys.secret_key, aws_session_token=keys.token,
        )  # fmt: skip

    def role(self, path: str = "/", account: str = ACCOUNT) -> tuple[str, ReadOnlyCredentials]:
        """A fresh role (created in IAM when it is this account's) and a session of it: (role ARN, credentials)."""
        name = f"proxy-{uuid.uuid4().hex[:8]}"
        arn = f"arn:aws:iam::{account}:role{path}{name}"
        if account == ACCOUNT:
            arn = self.client("iam").create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=TRUST)["Role"][
                "Arn"
            ]
        keys = self.client("sts").assume_role(RoleArn=arn, RoleSessionName="task")["Credentials"]
        return arn, ReadOnlyCredentials(keys["AccessKeyId"], keys["SecretAccessKey"], keys["SessionToken"])


@pytest.fixture
def aws(moto_endpoint: str) -> Aws:
    return Aws(moto_endpoint)


@dataclass
class GrantingIam:
    """moto's IAM for everything but SimulatePrincipalPolicy, which answers from `grants` (principal, node ARN)."""

    iam: Any
    grants: set[tuple[str, str]] = field(default_factory=set)
    simulations: list[tuple[str, str]] = field(default_factory=list)
    failing: bool = False

    def get_role(self, **kwargs: Any) -> Any:
        return self.iam.get_role(**kwargs)

    def simulate_principal_policy(self, PolicySourceArn: str, ActionNames: list[str], ResourceArns: list[str]) -> Any:
        self.simulations.append((PolicySourceArn, ResourceArns[0]))
        if self.failing:
            raise ConnectionError("IAM is unreachable")
        decision = "allowed" if (PolicySourceArn, ResourceArns[0]) in self.grants else "implicitDeny"
        return {"EvaluationResults": [
            {"EvalActionName": ActionNames[0], "EvalResourceName": ResourceArns[0], "EvalDecision": decision}
        ]}  # fmt: skip


@pytest.fixture
def iam(aws: Aws) -> GrantingIam:
    return GrantingIam(aws.client("iam"))


@contextmanager
def serving(aws: Aws, iam: GrantingIam, **options: Any) -> Iterator[NodeIdentity]:
    """A node identity with a fresh CA whose exchange trusts the moto server's STS, on a free loopback port."""
    served = build_node_identity(account=MESH_ACCOUNT, ca=NodeCA.generate(), iam=iam, server_name=SERVER,
                                 sts_endpoints=[aws.endpoint], identity_port=0, **options)  # fmt: skip
    served.serve("127.0.0.1", 0)
    try:
        yield served
    finally:
        served.stop()
