"""A file-mode agent's role records its own proxy's status and nothing else, decided by the local IAM evaluator.

The requests are the ones the agent really makes: `AgentReport` writing through `ProxyStatusStore` to an
in-process moto table, each captured as boto3 sends it.  Each is turned into the request context DynamoDB
gives IAM (fine-grained access control: `dynamodb:LeadingKeys` the partition keys, `dynamodb:Attributes` the
attribute names, `dynamodb:ReturnValues`, `dynamodb:Select`) plus the role's tags as `aws:PrincipalTag/*`,
and evaluated against the three forms of the grant: the ABAC policy the code writes, the stack's
FileModeProxyPolicy as the template has it, and the per-node policy `--emit iam-policy --table-arn` prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from meshplane.bootstrap import iam_policy
from meshplane.cli import main
from meshplane.delivery.status.agent import AgentReport
from meshplane.local.iam_evaluator import Decision, Policy, Request, evaluate, normalize_context
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.publication.pointer import Pointer
from meshplane.store import create_table
from meshplane.store.pointers import partition as pointer_partition
from meshplane.store.proxy_status import ATTRIBUTES, EnvoyStatus, Nack, ProxyStatusStore, to_item
from meshplane.store.schema import item_key
from moto import mock_aws
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TABLE = "meshplane-state"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}"
BUCKET = "meshplane-snapshots"
FRONT = ProxyId("shop", Kind.VIRTUAL_NODE, "front")
BACK = ProxyId("shop", Kind.VIRTUAL_NODE, "back")
GATEWAY = ProxyId("shop", Kind.VIRTUAL_GATEWAY, "front")  # a node's name on a gateway: another proxy
OTHER_MESH = ProxyId("shop-2", Kind.VIRTUAL_NODE, "front")
Call = tuple[str, dict[str, Any]]  # (operation, params as boto3 sends them)


def dynamodb_context(operation: str, params: Mapping[str, Any]) -> dict[str, list[str]]:
    """The DynamoDB condition keys of one request, as DynamoDB's fine-grained access control defines them."""
    if "Item" in params:
        keys, attributes = [params["Item"]["pk"]["S"]], list(params["Item"])
    elif "Key" in params:
        keys, attributes = [params["Key"]["pk"]["S"]], list(params["Key"])
    elif "RequestItems" in params:
        items = [r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"]
                 for requests in params["RequestItems"].values() for r in requests]  # fmt: skip
        keys, attributes = [i["pk"]["S"] for i in items], sorted({a for i in items for a in i})
    elif "KeyConditionExpression" in params:
        keys, attributes = [params["ExpressionAttributeValues"][":pk"]["S"]], []
    else:  # a Scan names no partition
        keys, attributes = [], []
    context = {"dynamodb:LeadingKeys": keys, "dynamodb:Attributes": attributes}
    for key in ("ReturnValues", "Select"):
        if key in params:
            context[f"dynamodb:{key}"] = [params[key]]
    return context


def decide(policy: Mapping[str, Any], tags: Mapping[str, str], call: Call) -> Decision:
    operation, params = call
    context = {**{f"aws:PrincipalTag/{k}": [v] for k, v in tags.items()}, **dynamodb_context(operation, params)}
    request = Request(f"dynamodb:{operation}", TABLE_ARN, normalize_context(context))
    return evaluate([Policy("file-mode", "managed", policy)], request).decision


def tags_of(proxy: ProxyId) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in iam_policy.role_tags(proxy)}


@cache
def template_policy() -> dict[str, Any]:
    """The stack's FileModeProxyPolicy with `${SnapshotBucket.Arn}` and `${StateTable.Arn}` filled in."""
    document = yaml_parse(TEMPLATE.read_text())["Resources"]["FileModeProxyPolicy"]["Properties"]["PolicyDocument"]
    arns = {"SnapshotBucket.Arn": f"arn:aws:s3:::{BUCKET}", "StateTable.Arn": TABLE_ARN}

    def sub(value: Any) -> Any:
        if isinstance(value, dict) and "Fn::Sub" in value:
            text = re.sub(r"\$\{([A-Za-z.]+)\}", lambda m: arns[m.group(1)], value["Fn::Sub"])
            return text.replace("${!", "${")
        if isinstance(value, dict):
            return {k: sub(v) for k, v in value.items()}
        return [sub(v) for v in value] if isinstance(value, list) else value

    return dict(sub(document))


POLICIES = {
    "code": lambda proxy: iam_policy.abac_policy(BUCKET, table_arn=TABLE_ARN),
    "template": lambda proxy: template_policy(),
    "node": lambda proxy: iam_policy.node_policy(proxy, BUCKET, table_arn=TABLE_ARN),
}


@pytest.fixture(scope="module")
def agent_calls() -> Iterator[dict[ProxyId, list[Call]]]:
    """Per proxy, the DynamoDB requests its agent makes over a life: an apply, a failed apply, a stop."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        calls: dict[ProxyId, list[Call]] = {}
        made: list[Call] = []
        client.meta.events.register("before-parameter-build.dynamodb",
                                    lambda params, model, **_: made.append((model.name, dict(params))))
        for proxy in (FRONT, BACK, GATEWAY, OTHER_MESH):
            made.clear()
            report = AgentReport(ProxyStatusStore(TABLE, client), proxy, "task-1")
            pointer = Pointer("v2", f"snapshots/{proxy.path}/v2.snap", versions={"cds": "v2"})
            report.applied(pointer)
            report.flush(everything=True)
            report.failed(pointer, OSError("disk full"))
            report.stopped()
            calls[proxy] = list(made)
        yield calls


def test_the_agent_writes_its_status_with_put_item_alone(agent_calls: dict[ProxyId, list[Call]]) -> None:
    """What the grant allows is what the agent does: three PutItems, the last one conditional (its disconnect)."""
    operations = [operation for operation, _ in agent_calls[FRONT]]
    assert operations == ["PutItem", "PutItem", "PutItem"]
    assert "ConditionExpression" in agent_calls[FRONT][-1][1]


@pytest.mark.parametrize("form", sorted(POLICIES))
@pytest.mark.parametrize("own", [FRONT, GATEWAY])
def test_a_role_writes_its_own_proxys_status_and_no_other_proxys(agent_calls: dict[ProxyId, list[Call]],
                                                                 form: str, own: ProxyId) -> None:
    policy = POLICIES[form](own)
    for proxy, calls in agent_calls.items():
        expected = Decision.ALLOWED if proxy == own else Decision.IMPLICIT_DENY
        for call in calls:
            assert decide(policy, tags_of(own), call) is expected, (form, own, proxy, call[0])


def own_item(**extra: Any) -> dict[str, Any]:
    return {"pk": {"S": "STATUS#shop/virtualNode/front"}, "sk": {"S": "task-1"}, **extra}


REFUSED: dict[str, Call] = {
    "the proxy's pointer item": ("PutItem", {"TableName": TABLE, "Item": {
        "pk": {"S": pointer_partition(FRONT.path)}, "sk": {"S": "POINTER"}, "applied": {"S": "v9"}}}),
    "the node's resource item": ("PutItem", {"TableName": TABLE, "Item": {
        **{k: {"S": v} for k, v in item_key(ResourceKey(Kind.VIRTUAL_NODE, "shop", "front")).items()},
        "nodeId": {"S": FRONT.path}}}),
    "the mesh-wide status partition": ("PutItem", {"TableName": TABLE, "Item": {
        "pk": {"S": "STATUS#shop"}, "sk": {"S": "virtualNode/back#task-1"}}}),
    "an attribute a status has not": ("PutItem", {"TableName": TABLE, "Item": own_item(spec={"S": "x"})}),
    "the old item returned": ("PutItem", {"TableName": TABLE, "Item": own_item(), "ReturnValues": "ALL_OLD"}),
    "a batch": ("BatchWriteItem", {"RequestItems": {TABLE: [{"PutRequest": {"Item": own_item()}}]}}),
    "an update": ("UpdateItem", {"TableName": TABLE, "Key": own_item(), "UpdateExpression": "SET seen = :s"}),
    "a delete": ("DeleteItem", {"TableName": TABLE, "Key": own_item()}),
    "a read of its own item": ("GetItem", {"TableName": TABLE, "Key": own_item()}),
    "a query of its own partition": ("Query", {
        "TableName": TABLE, "KeyConditionExpression": "pk = :pk", "Select": "ALL_ATTRIBUTES",
        "ExpressionAttributeValues": {":pk": own_item()["pk"]}}),
    "a scan": ("Scan", {"TableName": TABLE}),
}


@pytest.mark.parametrize("form", sorted(POLICIES))
@pytest.mark.parametrize("what", sorted(REFUSED))
def test_nothing_but_putting_its_own_status_is_allowed(form: str, what: str) -> None:
    policy = POLICIES[form](FRONT)
    assert decide(policy, tags_of(FRONT), ("PutItem", {"TableName": TABLE, "Item": own_item()})) is Decision.ALLOWED
    assert decide(policy, tags_of(FRONT), REFUSED[what]) is Decision.IMPLICIT_DENY


def test_an_untagged_role_records_nothing(agent_calls: dict[ProxyId, list[Call]]) -> None:
    for form in ("code", "template"):
        for call in agent_calls[FRONT]:
            assert decide(POLICIES[form](FRONT), {}, call) is Decision.IMPLICIT_DENY


def test_every_attribute_a_status_item_can_carry_is_granted() -> None:
    nack = Nack("type.googleapis.com/envoy.config.cluster.v3.Cluster", "v2", "bad", ("c",), 1.0, ("c",))
    status = EnvoyStatus(FRONT, FRONT.path, "task-1", "c1", "file", peer="10.0.0.1", applied="v1", nack=nack)
    assert set(to_item(status)) == set(ATTRIBUTES)


def test_the_per_node_form_refuses_a_table_that_is_not_a_table_arn() -> None:
    for bad in ("*", f"{TABLE_ARN}/*", "arn:aws:dynamodb:us-east-1:123456789012:table/*", TABLE):
        with pytest.raises(ValueError, match="table ARN"):
            iam_policy.node_policy(FRONT, BUCKET, table_arn=bad)


def test_the_cli_prints_the_per_node_policy_with_the_status_grant(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bootstrap", "--mode", "file", "--node-id", FRONT.path, "--emit", "iam-policy", "--bucket", BUCKET]
    assert main([*args, "--table-arn", TABLE_ARN]) == 0
    assert json.loads(capsys.readouterr().out) == iam_policy.node_policy(FRONT, BUCKET, table_arn=TABLE_ARN)
    assert main([*args, "--table-arn", "*"]) == 2
    assert "not a DynamoDB table ARN" in capsys.readouterr().err
