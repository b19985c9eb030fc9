"""ARNs, meshOwner and resourceOwner carry the account and partition the API Lambda really runs in.

The invoked function's ARN (the Lambda context) is the source of truth; the stack's
`MESHPLANE_ACCOUNT_ID` / `MESHPLANE_PARTITION` environment is the fallback; a local run
without either keeps the emulator's default account.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meshplane.api import runtime
from meshplane.config import DEFAULT_ACCOUNT, Settings, function_owner
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.store import create_table
from moto import mock_aws

from .test_observability import REGION, LambdaContext, load_handler_module, rest_event

CHINA_FUNCTION = "arn:aws-cn:lambda:cn-north-1:111122223333:function:shop-api:live"


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    table = f"meshplane-owner-{uuid.uuid4().hex[:8]}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION, "MESHPLANE_TABLE": table, "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "MeshplaneOwnerTest",
        "POWERTOOLS_SERVICE_NAME": f"meshplane-owner-{uuid.uuid4().hex[:8]}",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MESHPLANE_ACCOUNT_ID", "MESHPLANE_PARTITION"):
        monkeypatch.delenv(key, raising=False)
    runtime.lambda_api.cache_clear()
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), table)
        yield
    runtime.lambda_api.cache_clear()


def call(handler: Any, context: Any, method: str, path: str, body: dict[str, Any] | None = None,
         query: dict[str, str] | None = None) -> dict[str, Any]:
    """One API Gateway proxy event through the Lambda handler; the parsed body of its 2xx answer."""
    event = rest_event(method, path, body, str(uuid.uuid4()))
    if query:
        event.update(queryStringParameters=query, multiValueQueryStringParameters={k: [v] for k, v in query.items()})
    response = handler(event, context)
    assert response["statusCode"] < 300, response
    return json.loads(response["body"])


def test_the_invoked_function_arn_names_account_and_partition_of_every_arn_and_owner(api_env: None) -> None:
    handler = load_handler_module().handler
    context = LambdaContext(invoked_function_arn=CHINA_FUNCTION)
    mesh = call(handler, context, "PUT", "/v20190125/meshes", {"meshName": "shop"})["metadata"]
    assert mesh["arn"] == "arn:aws-cn:appmesh:us-east-1:111122223333:mesh/shop"
    assert (mesh["meshOwner"], mesh["resourceOwner"]) == ("111122223333", "111122223333")
    assert call(handler, context, "GET", "/v20190125/tags", query={"resourceArn": mesh["arn"]}) == {"tags": []}


def test_without_a_function_arn_the_stack_environment_names_them(
    api_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPLANE_ACCOUNT_ID", "444455556666")
    monkeypatch.setenv("MESHPLANE_PARTITION", "aws-us-gov")
    handler = load_handler_module().handler
    no_arn = LambdaContext(invoked_function_arn="")
    mesh = call(handler, no_arn, "PUT", "/v20190125/meshes", {"meshName": "gov"})["metadata"]
    assert mesh["arn"] == "arn:aws-us-gov:appmesh:us-east-1:444455556666:mesh/gov"
    assert mesh["meshOwner"] == "444455556666"


def test_a_mesh_owner_of_the_real_account_is_accepted(api_env: None) -> None:
    handler = load_handler_module().handler
    context = LambdaContext(invoked_function_arn=CHINA_FUNCTION)
    call(handler, context, "PUT", "/v20190125/meshes", {"meshName": "owned"})
    owned = call(handler, context, "GET", "/v20190125/meshes/owned", query={"meshOwner": "111122223333"})
    assert owned["metadata"]["meshOwner"] == "111122223333"


def test_function_owner_reads_only_well_formed_lambda_arns() -> None:
    assert function_owner(LambdaContext(invoked_function_arn=CHINA_FUNCTION)) == ("aws-cn", "111122223333")
    for arn in ("", "arn:aws:lambda:us-east-1:1234:function:f", "arn:aws:sqs:us-east-1:111122223333:function:f",
                "arn:xyz:lambda:us-east-1:111122223333:function:f", "arn:aws:lambda:us-east-1:111122223333:layer:f"):
        assert function_owner(LambdaContext(invoked_function_arn=arn)) is None, arn
    assert function_owner(None) is None


def test_local_runs_keep_the_default_account_and_partition() -> None:
    settings = Settings.from_env({})
    assert (settings.partition, settings.account) == ("aws", DEFAULT_ACCOUNT)
    assert Settings.from_env({"MESHPLANE_ACCOUNT_ID": "444455556666"}, owner=("aws-cn", "111122223333")).account \
        == "111122223333"


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov", "aws-iso-b"])
def test_arns_round_trip_in_every_partition(partition: str) -> None:
    key = ResourceKey(Kind.ROUTE, "shop", "r1", "router")
    arn = key.arn("eu-west-1", "111122223333", partition=partition)
    assert arn == f"arn:{partition}:appmesh:eu-west-1:111122223333:mesh/shop/virtualRouter/router/route/r1"
    assert ResourceKey.from_arn(arn) == key
    node = f"arn:{partition}:appmesh:eu-west-1:111122223333:mesh/shop/virtualNode/front"
    assert ProxyId.parse(node) == ProxyId("shop", Kind.VIRTUAL_NODE, "front")


def test_the_default_partition_keeps_existing_callers_working() -> None:
    assert ResourceKey(Kind.MESH, "m", "m").arn("us-east-1", "111122223333") \
        == "arn:aws:appmesh:us-east-1:111122223333:mesh/m"


@pytest.mark.parametrize("arn", ["arn:gcp:appmesh:r:111122223333:mesh/m", "arn::appmesh:r:111122223333:mesh/m",
                                 "arn:AWS:appmesh:r:111122223333:mesh/m"])
def test_an_arn_outside_any_aws_partition_is_refused(arn: str) -> None:
    with pytest.raises(ValueError):
        ResourceKey.from_arn(arn)
