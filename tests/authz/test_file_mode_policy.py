"""File mode: a proxy's role reads its own pointer and snapshots, never another proxy's, never the bucket listing.

Both forms are checked with the emulator's IAM, by policy simulation and by real S3
requests with moto's access checks on: the per-node policy `meshplane bootstrap
--emit iam-policy` prints, and the ABAC managed policy (the stack's FileModeProxyPolicy)
on a role carrying the tags `--emit iam-role-tags` prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from meshplane.bootstrap import iam_policy
from meshplane.cli import main
from meshplane.model.ids import Kind, ProxyId
from samtranslator.yaml_helper import yaml_parse

from authz.iamlab import IamLab, document

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

BUCKET = "meshplane-snapshots-authz"
FRONT = ProxyId("shop", Kind.VIRTUAL_NODE, "front")
BACK = ProxyId("shop", Kind.VIRTUAL_NODE, "back")
GATEWAY = ProxyId("shop", Kind.VIRTUAL_GATEWAY, "front")  # the same name as a node: a different proxy
OTHER_MESH = ProxyId("shop-2", Kind.VIRTUAL_NODE, "front")
PROXIES = (FRONT, BACK, GATEWAY, OTHER_MESH)


def pointer(proxy: ProxyId) -> str:
    return f"pointers/{proxy.mesh}/{proxy.kind.value}/{proxy.name}.json"


def snapshot(proxy: ProxyId) -> str:
    return f"snapshots/{proxy.mesh}/{proxy.kind.value}/{proxy.name}/v1.snap"


@pytest.fixture(scope="module")
def bucket(lab: IamLab) -> Iterator[str]:
    s3 = lab.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for proxy in PROXIES:
        s3.put_object(Bucket=BUCKET, Key=pointer(proxy), Body=json.dumps({"key": snapshot(proxy)}).encode())
        s3.put_object(Bucket=BUCKET, Key=snapshot(proxy), Body=f"keys of {proxy}".encode())
    yield BUCKET


def emitted(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main(["bootstrap", "--mode", "file", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def roles(lab: IamLab, bucket: str) -> dict[str, str]:
    """`node`: FRONT's emitted policy inline; `abac`/`gateway`: the managed ABAC policy and FRONT's/GATEWAY's tags."""
    node_policy = iam_policy.node_policy(FRONT, bucket)
    abac = lab.managed_policy(*iam_policy.abac_policy(bucket)["Statement"])
    tags = {t["Key"]: t["Value"] for t in iam_policy.role_tags(FRONT)}
    gateway_tags = {t["Key"]: t["Value"] for t in iam_policy.role_tags(GATEWAY)}
    return {
        "node": lab.role(*node_policy["Statement"]),
        "abac": lab.role(tags=tags, managed=[abac]),
        "gateway": lab.role(tags=gateway_tags, managed=[abac]),
    }


def test_the_cli_prints_the_policy_and_the_tags(capsys: pytest.CaptureFixture[str], bucket: str) -> None:
    policy = emitted(capsys, "--node-id", f"arn:aws:appmesh:us-east-1:123456789012:{FRONT.path}",
                     "--emit", "iam-policy", "--bucket", bucket)
    assert policy == iam_policy.node_policy(FRONT, bucket)
    assert policy["Statement"][0]["Resource"] == [f"arn:aws:s3:::{bucket}/{pointer(FRONT)}",
                                                  f"arn:aws:s3:::{bucket}/snapshots/shop/virtualNode/front/*"]
    assert emitted(capsys, "--node-id", FRONT.path, "--emit", "iam-role-tags") == [
        {"Key": "meshplane:mesh", "Value": "shop"}, {"Key": "meshplane:virtualNode", "Value": "front"}]


@pytest.mark.parametrize("node_id", ["mesh/shop/virtualNode/fr*nt", "mesh/*/virtualNode/front",
                                     "mesh/shop/virtualNode/f?", "mesh/shop/virtualNode/${aws:username}"])
def test_a_name_that_would_widen_the_policy_is_refused(capsys: pytest.CaptureFixture[str], node_id: str) -> None:
    assert main(["bootstrap", "--node-id", node_id, "--emit", "iam-policy", "--bucket", BUCKET]) == 2
    assert "may appear in a policy" in capsys.readouterr().err


def test_a_bucket_that_is_not_a_bucket_name_is_refused() -> None:
    for bad in ("*", "b/x", "a", "Upper"):
        with pytest.raises(ValueError, match="bucket"):
            iam_policy.node_policy(FRONT, bad)


def simulated(lab: IamLab, role: str, action: str, resource: str) -> str:
    answer = lab.iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::123456789012:role/{role}",
                                               ActionNames=[action], ResourceArns=[resource])
    return str(answer["EvaluationResults"][0]["EvalDecision"])


@pytest.mark.parametrize(("role", "own"), [("node", FRONT), ("abac", FRONT), ("gateway", GATEWAY)])
def test_simulation_allows_only_the_own_objects(lab: IamLab, bucket: str, roles: dict[str, str], role: str,
                                                own: ProxyId) -> None:
    name = roles[role]
    for proxy in PROXIES:
        expected = "allowed" if proxy == own else "implicitDeny"
        for key in (pointer(proxy), snapshot(proxy)):
            assert simulated(lab, name, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}") == expected, (role, key)
    assert simulated(lab, name, "s3:ListBucket", f"arn:aws:s3:::{bucket}") == "implicitDeny"
    assert simulated(lab, name, "s3:PutObject", f"arn:aws:s3:::{bucket}/{pointer(own)}") == "implicitDeny"


def test_an_untagged_role_with_the_abac_policy_reads_nothing(lab: IamLab, bucket: str) -> None:
    bare = lab.role(managed=[lab.managed_policy(*iam_policy.abac_policy(bucket)["Statement"])])
    for proxy in PROXIES:
        assert simulated(lab, bare, "s3:GetObject", f"arn:aws:s3:::{bucket}/{pointer(proxy)}") == "implicitDeny"


@pytest.mark.parametrize(("role", "own"), [("node", FRONT), ("abac", FRONT), ("gateway", GATEWAY)])
def test_real_reads_are_refused_for_other_proxies(lab: IamLab, bucket: str, roles: dict[str, str], role: str,
                                                  own: ProxyId) -> None:
    task = lab.client("s3", lab.session(roles[role]))
    with lab.access_checks():
        assert task.get_object(Bucket=bucket, Key=pointer(own))["Body"].read().startswith(b'{"key"')
        assert task.get_object(Bucket=bucket, Key=snapshot(own))["Body"].read() == f"keys of {own}".encode()
        refusals = []
        for proxy in PROXIES:
            if proxy == own:
                continue
            for key in (pointer(proxy), snapshot(proxy)):
                with pytest.raises(ClientError) as denied:
                    task.get_object(Bucket=bucket, Key=key)
                refusals.append(denied.value.response["Error"]["Code"])
        with pytest.raises(ClientError) as listing:
            task.list_objects_v2(Bucket=bucket, Prefix="snapshots/")
    assert set(refusals) == {"AccessDenied"} and len(refusals) == 2 * (len(PROXIES) - 1)
    assert listing.value.response["Error"]["Code"] == "AccessDenied"


def test_the_policy_documents_are_valid_iam_json(lab: IamLab, bucket: str) -> None:
    """IAM itself accepts both documents (moto validates a policy on creation)."""
    lab.managed_policy(*iam_policy.node_policy(BACK, bucket)["Statement"])
    assert json.loads(document(*iam_policy.abac_policy(bucket)["Statement"]))["Statement"][0]["Resource"][0] == (
        f"arn:aws:s3:::{bucket}/pointers/${{aws:PrincipalTag/meshplane:mesh}}/virtualNode/"
        "${aws:PrincipalTag/meshplane:virtualNode}.json")


def test_the_stacks_managed_policy_is_the_abac_policy_the_code_writes() -> None:
    """The template cannot import the layout, so its FileModeProxyPolicy is held to `abac_statements` here."""
    resources = yaml_parse(TEMPLATE.read_text())["Resources"]
    statements = resources["FileModeProxyPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    rendered = [{**s, "Resource": [r["Fn::Sub"].replace("${!", "${") for r in s["Resource"]]} for s in statements]
    assert rendered == iam_policy.abac_statements("${SnapshotBucket.Arn}", "${StateTable.Arn}")
