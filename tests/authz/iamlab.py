"""A moto server started through the local wrapper (`meshplane.local.motoserver`), with IAM helpers.

Each test module gets its own emulator process, so enabling moto's access checks
(`/moto-api/reset-auth`) or filling IAM never reaches another module's server.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config
from meshplane.local.emulator import Emulator
from meshplane.localnet import processes
from meshplane.localnet.loopback import free_port

REGION = "us-east-1"
ACCOUNT = "123456789012"
ADMIN = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}


@dataclass(frozen=True)
class Keys:
    """Credentials of one principal, for boto3 (`**keys.boto`)."""

    access_key: str
    secret_key: str
    arn: str
    session_token: str | None = None

    @property
    def boto(self) -> dict[str, str]:
        found = {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key, "region_name": REGION}
        if self.session_token:
            found["aws_session_token"] = self.session_token
        return found


class IamLab:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.iam = self.client("iam")

    def client(self, service: str, keys: Keys | None = None, **config: Any) -> Any:
        credentials = keys.boto if keys else ADMIN
        return boto3.client(service, endpoint_url=self.endpoint, config=Config(retries={"max_attempts": 1}, **config),
                            **credentials)

    def user(self, *statements: Mapping[str, Any], tags: Mapping[str, str] | None = None, path: str = "/") -> Keys:
        """A new IAM user with one inline policy of `statements` and an access key."""
        name = f"user-{uuid.uuid4().hex[:8]}"
        self.iam.create_user(UserName=name, Path=path, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
        if statements:
            self.iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=document(*statements))
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        arn = self.iam.get_user(UserName=name)["User"]["Arn"]
        return Keys(key["AccessKeyId"], key["SecretAccessKey"], arn)

    def role(self, *statements: Mapping[str, Any], tags: Mapping[str, str] | None = None,
             managed: list[str] = (), boundary: str | None = None) -> str:
        """A new role (any principal of the account may assume it); returns its name."""
        name = f"role-{uuid.uuid4().hex[:8]}"
        trust = document({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                          "Action": "sts:AssumeRole"})
        extra: dict[str, Any] = {"PermissionsBoundary": boundary} if boundary else {}
        self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust,
                             Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()], **extra)
        if statements:
            self.iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=document(*statements))
        for arn in managed:
            self.iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        return name

    def managed_policy(self, *statements: Mapping[str, Any]) -> str:
        name = f"policy-{uuid.uuid4().hex[:8]}"
        return str(self.iam.create_policy(PolicyName=name, PolicyDocument=document(*statements))["Policy"]["Arn"])

    def session(self, role: str, name: str = "task") -> Keys:
        """Temporary credentials of `role`, as an ECS task or EC2 instance holds them."""
        sts = self.client("sts")
        answer = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName=name)
        c = answer["Credentials"]
        return Keys(c["AccessKeyId"], c["SecretAccessKey"], answer["AssumedRoleUser"]["Arn"], c["SessionToken"])

    @contextmanager
    def access_checks(self) -> Iterator[None]:
        """moto checks every request's signature and IAM permissions while inside."""
        previous = requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0", timeout=5).json()
        try:
            yield
        finally:
            requests.post(f"{self.endpoint}/moto-api/reset-auth",
                          data=str(previous["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]).encode(), timeout=5)


def document(*statements: Mapping[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@contextmanager
def iam_lab(log_dir: Path) -> Iterator[IamLab]:
    """The wrapper's moto on a free loopback port, stopped on the way out."""
    port = free_port()
    argv = [sys.executable, "-m", "meshplane.local.motoserver", "-H", "127.0.0.1", "-p", str(port)]
    emulator = Emulator(f"http://127.0.0.1:{port}", processes.spawn(argv, log=log_dir / "emulator.log"))
    try:
        emulator.wait_ready()
        yield IamLab(emulator.endpoint_url)
    finally:
        emulator.stop()
