"""The local IAM emulation through boto3, against moto started by the local wrapper.

`iam:SimulatePrincipalPolicy`/`SimulateCustomPolicy` answer as AWS does for the
principal's stored policies, and `/_meshplane/authenticate` accepts only requests
signed with a key the emulator issued.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests
from authz.iamlab import ACCOUNT, IamLab, Keys, document, iam_lab
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

MESH_A = f"arn:aws:appmesh:us-east-1:{ACCOUNT}:mesh/a"
ROUTE_A = f"{MESH_A}/virtualRouter/r/route/x"
ROUTE_B = f"arn:aws:appmesh:us-east-1:{ACCOUNT}:mesh/b/virtualRouter/r/route/x"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamLab]:
    with iam_lab(tmp_path_factory.mktemp("iam")) as opened:
        yield opened


def simulate(lab: IamLab, source: str, action: str, resources: list[str] | None = None,
             **context: Any) -> list[dict[str, Any]]:
    entries = [{"ContextKeyName": k.replace("__", ":").replace("_", "/"),
                "ContextKeyValues": v if isinstance(v, list) else [v],
                "ContextKeyType": "stringList" if isinstance(v, list) else "string"} for k, v in context.items()]
    answer = lab.iam.simulate_principal_policy(PolicySourceArn=source, ActionNames=[action],
                                               ResourceArns=resources or ["*"], ContextEntries=entries)
    return list(answer["EvaluationResults"])


def decisions(results: list[dict[str, Any]]) -> list[str]:
    return [r["EvalDecision"] for r in results]


def test_a_users_inline_managed_and_group_policies_all_count(lab: IamLab) -> None:
    user = lab.user({"Effect": "Allow", "Action": "appmesh:Describe*", "Resource": "*"})
    name = user.arn.rsplit("/", 1)[-1]
    managed = lab.managed_policy({"Effect": "Allow", "Action": "appmesh:CreateRoute", "Resource": f"{MESH_A}/*"})
    lab.iam.attach_user_policy(UserName=name, PolicyArn=managed)
    group = f"group-{name}"
    lab.iam.create_group(GroupName=group)
    lab.iam.put_group_policy(GroupName=group, PolicyName="guard", PolicyDocument=document(
        {"Sid": "NoDeletes", "Effect": "Deny", "Action": "appmesh:Delete*", "Resource": "*"}))
    lab.iam.add_user_to_group(GroupName=group, UserName=name)
    lab.iam.put_user_policy(UserName=name, PolicyName="wide", PolicyDocument=document(
        {"Effect": "Allow", "Action": "appmesh:DeleteRoute", "Resource": "*"}))

    assert decisions(simulate(lab, user.arn, "appmesh:DescribeMesh", [MESH_A])) == ["allowed"]
    results = simulate(lab, user.arn, "appmesh:CreateRoute", [ROUTE_A, ROUTE_B])
    assert [(r["EvalResourceName"], r["EvalDecision"]) for r in results] == [
        (ROUTE_A, "allowed"), (ROUTE_B, "implicitDeny")]
    assert results[0]["MatchedStatements"][0]["SourcePolicyType"] == "user-managed"
    denied = simulate(lab, user.arn, "appmesh:DeleteRoute", [ROUTE_A])[0]
    assert denied["EvalDecision"] == "explicitDeny"
    assert denied["MatchedStatements"] == [{"SourcePolicyId": "guard", "SourcePolicyType": "group"}]


def test_context_entries_and_multivalued_keys(lab: IamLab) -> None:
    user = lab.user(
        {"Effect": "Allow", "Action": "appmesh:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/team": "red"}}},
        {"Effect": "Allow", "Action": "appmesh:TagResource", "Resource": "*",
         "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}},
    )
    assert decisions(simulate(lab, user.arn, "appmesh:UpdateRoute", [ROUTE_A], aws__ResourceTag_team="red")) \
        == ["allowed"]
    missing = simulate(lab, user.arn, "appmesh:UpdateRoute", [ROUTE_A])[0]
    assert missing["EvalDecision"] == "implicitDeny"
    assert "aws:ResourceTag/team" in missing["MissingContextValues"]
    assert decisions(simulate(lab, user.arn, "appmesh:TagResource", [ROUTE_A], aws__TagKeys=["team", "env"])) \
        == ["allowed"]
    assert decisions(simulate(lab, user.arn, "appmesh:TagResource", [ROUTE_A], aws__TagKeys=["team", "owner"])) \
        == ["implicitDeny"]


def test_principal_variables_come_from_the_principal(lab: IamLab) -> None:
    user = lab.user({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/home/${aws:username}/*"},
                    tags={"team": "red"})
    name = user.arn.rsplit("/", 1)[-1]
    assert decisions(simulate(lab, user.arn, "s3:GetObject", [f"arn:aws:s3:::b/home/{name}/x"])) == ["allowed"]
    assert decisions(simulate(lab, user.arn, "s3:GetObject", ["arn:aws:s3:::b/home/other/x"])) == ["implicitDeny"]

    role = lab.role({"Effect": "Allow", "Action": "appmesh:*",
                     "Resource": "arn:aws:appmesh:*:*:mesh/${aws:PrincipalTag/mesh}/*"}, tags={"mesh": "a"})
    session = lab.session(role)
    for source in (f"arn:aws:iam::{ACCOUNT}:role/{role}", session.arn):  # a session is simulated as its role
        assert decisions(simulate(lab, source, "appmesh:CreateRoute", [ROUTE_A, ROUTE_B])) \
            == ["allowed", "implicitDeny"]
    # what the request says wins over what the principal carries
    assert decisions(simulate(lab, session.arn, "appmesh:CreateRoute", [ROUTE_B], aws__PrincipalTag_mesh="b")) \
        == ["allowed"]


def test_a_permissions_boundary_limits_a_role(lab: IamLab) -> None:
    boundary = lab.managed_policy({"Effect": "Allow", "Action": "appmesh:Describe*", "Resource": "*"})
    role = lab.role({"Effect": "Allow", "Action": "appmesh:*", "Resource": "*"}, boundary=boundary)
    arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    described = simulate(lab, arn, "appmesh:DescribeMesh", [MESH_A])[0]
    assert described["EvalDecision"] == "allowed"
    assert described["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    created = simulate(lab, arn, "appmesh:CreateMesh", [MESH_A])[0]
    assert created["EvalDecision"] == "implicitDeny"
    assert created["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_simulate_custom_policy(lab: IamLab) -> None:
    policy = document({"Effect": "Allow", "Action": "appmesh:*", "Resource": f"{MESH_A}/*"},
                      {"Effect": "Deny", "Action": "appmesh:DeleteRoute", "Resource": "*"})
    answer = lab.iam.simulate_custom_policy(PolicyInputList=[policy], ResourceArns=[ROUTE_A],
                                            ActionNames=["appmesh:CreateRoute", "appmesh:DeleteRoute"])
    assert decisions(answer["EvaluationResults"]) == ["allowed", "explicitDeny"]


def test_unknown_principals_and_malformed_policies_are_client_errors(lab: IamLab) -> None:
    with pytest.raises(ClientError) as unknown:
        simulate(lab, f"arn:aws:iam::{ACCOUNT}:user/nobody", "appmesh:DescribeMesh")
    assert unknown.value.response["Error"]["Code"] == "NoSuchEntity"
    bad = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                     "Condition": {"StringMaybe": {"k": "v"}}}]})
    with pytest.raises(ClientError) as malformed:
        lab.iam.simulate_custom_policy(PolicyInputList=[bad], ActionNames=["appmesh:DescribeMesh"])
    assert malformed.value.response["Error"]["Code"] == "MalformedPolicyDocument"


# --- /_meshplane/authenticate ------------------------------------------------------------------


def signed(keys: Keys, body: bytes = b'{"meshName":"a"}', service: str = "appmesh",
           when: datetime | None = None) -> dict[str, Any]:
    """What the local API server forwards for one request signed by `keys` (botocore signs it)."""
    request = AWSRequest(method="PUT", url="http://127.0.0.1:9080/v20190125/meshes?x=1", data=body,
                         headers={"Content-Type": "application/json"})
    auth = SigV4Auth(Credentials(keys.access_key, keys.secret_key, keys.session_token), service, "us-east-1")
    moment = (when or datetime.now(UTC)).replace(tzinfo=None)  # botocore signs with naive UTC
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        auth.add_auth(request)
    headers = {**dict(request.headers.items()), "Host": "127.0.0.1:9080"}
    return {"method": "PUT", "path": "/v20190125/meshes", "query": "x=1", "headers": headers,
            "body": base64.b64encode(body).decode(), "services": ["appmesh", "execute-api"], "region": "us-east-1"}


def authenticate(lab: IamLab, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = requests.post(f"{lab.endpoint}/_meshplane/authenticate", json=payload, timeout=5)
    return answer.status_code, answer.json()


def test_a_users_signature_names_the_user(lab: IamLab) -> None:
    user = lab.user()
    status, who = authenticate(lab, signed(user))
    assert status == 200, who
    assert who["arn"] == user.arn and who["account"] == ACCOUNT and who["accessKey"] == user.access_key
    assert who["type"] == "user"
    assert who["userId"] == lab.iam.get_user(UserName=user.arn.rsplit("/", 1)[-1])["User"]["UserId"]


def test_a_sessions_signature_names_the_session_and_its_role(lab: IamLab) -> None:
    role = lab.role()
    session = lab.session(role, name="front")
    status, who = authenticate(lab, signed(session, service="execute-api"))
    assert status == 200, who
    assert who["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/front"
    assert who["principalArn"] == f"arn:aws:iam::{ACCOUNT}:role/{role}"


@pytest.mark.parametrize("attack", ["unsigned", "wrong-secret", "tampered-body", "unknown-key", "stale",
                                    "other-service", "deleted-key", "wrong-token"])
def test_forged_and_stale_signatures_are_refused(lab: IamLab, attack: str) -> None:
    user = lab.user()
    payload = signed(user)
    expected = "InvalidSignatureException"
    if attack == "unsigned":
        payload["headers"].pop("Authorization")
        expected = "MissingAuthenticationTokenException"
    elif attack == "wrong-secret":
        payload = signed(Keys(user.access_key, "x" * 40, user.arn))
    elif attack == "tampered-body":
        payload["body"] = base64.b64encode(b'{"meshName":"b"}').decode()
    elif attack == "unknown-key":
        payload = signed(Keys("AKIAUNKNOWN000000000", user.secret_key, user.arn))
        expected = "UnrecognizedClientException"
    elif attack == "stale":
        payload = signed(user, when=datetime.now(UTC) - timedelta(minutes=6))
    elif attack == "other-service":
        payload = signed(user, service="s3")
    elif attack == "deleted-key":
        lab.iam.delete_access_key(UserName=user.arn.rsplit("/", 1)[-1], AccessKeyId=user.access_key)
        expected = "UnrecognizedClientException"
    elif attack == "wrong-token":
        session = lab.session(lab.role())
        payload = signed(Keys(session.access_key, session.secret_key, session.arn, session.session_token + "x"))
        expected = "UnrecognizedClientException"
    status, answer = authenticate(lab, payload)
    assert (status, answer["code"]) == (403, expected), answer


def test_malformed_authentication_requests_are_bad_requests(lab: IamLab) -> None:
    assert authenticate(lab, {"method": "GET"})[0] == 400
    assert requests.get(f"{lab.endpoint}/_meshplane/authenticate", timeout=5).status_code == 405


def test_moto_access_checks_use_the_evaluator(lab: IamLab, tmp_path: Path) -> None:
    """With moto's access checks on, a policy variable decides a real request."""
    s3 = lab.client("s3")
    bucket = f"b-{tmp_path.name.lower()[-20:].replace('_', '-')}"
    s3.create_bucket(Bucket=bucket)
    for name in ("front", "back"):
        s3.put_object(Bucket=bucket, Key=f"home/{name}/x", Body=b"secret")
    role = lab.role({"Effect": "Allow", "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{bucket}/home/${{aws:PrincipalTag/app}}/*"}, tags={"app": "front"})
    reader = lab.client("s3", lab.session(role))
    with lab.access_checks():
        assert reader.get_object(Bucket=bucket, Key="home/front/x")["Body"].read() == b"secret"
        with pytest.raises(ClientError) as denied:
            reader.get_object(Bucket=bucket, Key="home/back/x")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
