"""`meshplane local up --api-authz`: the local stack authenticates and authorizes as the deployed one does.

The API Function runs in its own worker with `MESHPLANE_API_AUTHZ=iam` and asks the
emulator's IAM; the local API Gateway refuses unsigned requests.  Without the flag the
API stays open (the default tests and the demo rely on it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from meshplane.local.harness import LocalStack, start_local_up, stop_local_up

from authz.conftest import ALL_APPMESH


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = start_local_up(tmp_path_factory.mktemp("authz-up"), "--api-authz", "--no-ads",
                           "--schedule-interval", "60")
    try:
        yield stack
    finally:
        stop_local_up(stack)


def user(stack: LocalStack, *statements: dict[str, Any]) -> dict[str, str]:
    iam = stack.client("iam")
    name = f"user-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="inline",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def appmesh(stack: LocalStack, credentials: dict[str, str], **config: Any) -> Any:
    return boto3.client("appmesh", endpoint_url=stack.api_url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}, **config), **credentials)


def test_allowed_denied_and_unsigned_calls(secured: LocalStack) -> None:
    name = f"mesh-{uuid.uuid4().hex[:8]}"
    admin = appmesh(secured, user(secured, ALL_APPMESH))
    assert admin.create_mesh(meshName=name)["mesh"]["meshName"] == name

    reader = appmesh(secured, user(secured, {"Effect": "Allow", "Action": "appmesh:Describe*", "Resource": "*"}))
    assert reader.describe_mesh(meshName=name)["mesh"]["meshName"] == name
    with pytest.raises(reader.exceptions.ForbiddenException) as denied:
        reader.delete_mesh(meshName=name)
    assert "is not authorized to perform: appmesh:DeleteMesh on resource: " in str(denied.value)

    unsigned = appmesh(secured, {"aws_access_key_id": "x", "aws_secret_access_key": "x"}, signature_version=UNSIGNED)
    with pytest.raises(ClientError) as refused:
        unsigned.describe_mesh(meshName=name)
    assert refused.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"
    # the emulator's default test keys are not an IAM user: refused like any unknown key
    with pytest.raises(ClientError) as unknown:
        secured.appmesh().describe_mesh(meshName=name)
    assert unknown.value.response["Error"]["Code"] == "UnrecognizedClientException"
