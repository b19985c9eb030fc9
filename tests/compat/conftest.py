"""Fixtures for the App Mesh image's port: moto (S3, SQS, STS, IAM), a test CA standing in for the public CAs of
the system bundle, and `meshplane ads` secure by default (node identity) with the compat port opened beside it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.credentials import ReadOnlyCredentials
from delivery.conftest import aws, moto_endpoint, publisher
from delivery.harness import Aws, ThreadedAds
from meshplane.delivery.server.ads import TlsFiles
from meshplane.delivery.server.appmesh_compat import AppMeshCompat, CompatPolicy, CompatPort, KeyAccounts
from meshplane.identity.account import MeshAccount
from meshplane.identity.ca import NodeCA
from meshplane.identity.server import NodeIdentity, build_node_identity
from support import Leaf, TestCA
from support.fixtures import envoy_runner, lab, test_ca

__all__ = ["aws", "envoy_runner", "lab", "moto_endpoint", "publisher", "test_ca"]

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account: the server's own
SERVER_NAME = "ads.meshplane.test"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})


def client(aws: Aws, service: str, account: str | None = None) -> Any:
    """A client of the moto server, acting in `account` (moto's `x-moto-account-id` header) if given."""
    made = boto3.client(service, endpoint_url=aws.endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")  # fmt: skip
    if account is not None:
        def in_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        made.meta.events.register("before-sign", in_account)
    return made


def task_role_credentials(aws: Aws) -> ReadOnlyCredentials:
    """Temporary credentials of a role, as an ECS task holds them (ASIA... key id and a session token)."""
    iam = client(aws, "iam")
    name = f"task-{aws.bucket[-8:]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    keys = client(aws, "sts").assume_role(RoleArn=arn, RoleSessionName="task")["Credentials"]
    return ReadOnlyCredentials(keys["AccessKeyId"], keys["SecretAccessKey"], keys["SessionToken"])


def user_credentials(aws: Aws, account: str) -> ReadOnlyCredentials:
    """Long-term keys of an IAM user in `account`."""
    iam = client(aws, "iam", account)
    name = f"user-{aws.bucket[-8:]}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return ReadOnlyCredentials(key["AccessKeyId"], key["SecretAccessKey"], None)


@dataclass
class CompatAds:
    """`meshplane ads` with node identity on its default port and the App Mesh image's port beside it."""

    server: ThreadedAds
    identity: NodeIdentity
    compat: AppMeshCompat
    leaf: Leaf  # the compat port's certificate, of the test CA

    @property
    def compat_address(self) -> str:
        return f"127.0.0.1:{self.server.service.compat_port}"


@pytest.fixture
def compat_ads(aws: Aws, test_ca: TestCA) -> Iterator[Callable[..., CompatAds]]:
    """Start one: `nodes` and `cidrs` are the allow-lists, `key_account` turns on sts:GetAccessKeyInfo."""
    started: list[ThreadedAds] = []
    leaf = test_ca.issue("compat-ads", dns=("localhost",), ips=("127.0.0.1",))

    def start(nodes: tuple[str, ...] = (f"mesh/{aws.bucket}/virtualNode/*",), cidrs: tuple[str, ...] = ("127.0.0.0/8",),
              key_account: bool = False, own_certificate: bool = False) -> CompatAds:  # fmt: skip
        """`own_certificate`: the compat port serves the node CA's server certificate (behind an NLB TLS listener)."""
        identity = build_node_identity(
            account=MeshAccount("aws", REGION, ACCOUNT), ca=NodeCA.generate(), iam=client(aws, "iam"),
            server_name=SERVER_NAME, sts_endpoints=[aws.endpoint], identity_port=0,
        )  # fmt: skip
        keys = KeyAccounts(client(aws, "sts"), [ACCOUNT]) if key_account else None
        compat = AppMeshCompat(CompatPolicy.parse(nodes, cidrs, REGION), keys)
        port = CompatPort(0, compat, None if own_certificate else TlsFiles(str(leaf.chain), str(leaf.key)))
        server = ThreadedAds(aws, identity=identity, appmesh_compat=port)
        started.append(server)
        return CompatAds(server, identity, compat, leaf)

    yield start
    for server in started:
        server.stop()
