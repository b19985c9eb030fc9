"""With IAM authorization on, Policy calls are `meshplane:` actions on the policy's ARN and on each target's.

The Authorizer is the API's own; IAM is a stand-in that records what it is asked and allows only the
(action, resource) pairs a test grants, so every check a call makes is visible.
"""

from __future__ import annotations

from typing import Any

import pytest
from meshplane.api.authz import Authorizer
from meshplane.api.policy_api import ROUTES
from meshplane.store.errors import Forbidden

ACCOUNT, REGION = "123456789012", "us-east-1"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
POLICY_ARN = f"arn:aws:meshplane:{REGION}:{ACCOUNT}:mesh/m/policy/p"
NODE_ARN = f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/m/virtualNode/back"
ROUTE_ARN = f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/m/virtualRouter/r/route/all"
SPEC = {"targets": [{"virtualNode": {"virtualNodeName": "back"}},
                    {"route": {"virtualRouterName": "r", "routeName": "all"}}],
        "headers": {"request": {"remove": ["x-debug"]}}}


class Iam:
    """`SimulatePrincipalPolicy` allowing exactly `granted`; `asked` lists every (action, resource)."""

    def __init__(self, *granted: tuple[str, str]) -> None:
        self.granted, self.asked = set(granted), []

    def list_user_tags(self, **_: Any) -> dict[str, Any]:
        return {"Tags": []}

    def simulate_principal_policy(self, ActionNames: list[str], ResourceArns: list[str], **_: Any) -> Any:
        pair = (ActionNames[0], ResourceArns[0])
        self.asked.append(pair)
        return {"EvaluationResults": [{"EvalDecision": "allowed" if pair in self.granted else "implicitDeny"}]}


class Store:
    """The store as the Authorizer reads it: the account, region and partition, and no stored tags."""

    account, region, partition, table, client = ACCOUNT, REGION, "aws", "table", None

    def get_item(self, key: Any) -> None:
        return None

    def _get(self, pk: str, sk: str) -> None:
        return None


def _authorize(iam: Iam, operation: str, values: dict[str, Any]) -> None:
    route = next(r for r in ROUTES if r.name == operation)
    event = {"requestContext": {"identity": {"userArn": USER, "accountId": ACCOUNT}}}
    Authorizer(iam, Store()).authorize_policy(event, operation, route.model.model_validate(values))


def test_a_write_is_authorized_on_the_policy_and_on_each_target() -> None:
    iam = Iam(("meshplane:CreatePolicy", POLICY_ARN), ("meshplane:CreatePolicy", ROUTE_ARN))
    with pytest.raises(Forbidden, match=f"meshplane:CreatePolicy on resource: {NODE_ARN} "):
        _authorize(iam, "CreatePolicy", {"meshName": "m", "policyName": "p", "spec": SPEC})
    assert sorted(iam.asked) == sorted(("meshplane:CreatePolicy", arn) for arn in (POLICY_ARN, NODE_ARN, ROUTE_ARN))
    assert iam.asked[0] == ("meshplane:CreatePolicy", POLICY_ARN)  # the policy's own check first


def test_app_mesh_actions_do_not_authorize_policy_calls() -> None:
    iam = Iam(("appmesh:CreatePolicy", POLICY_ARN), ("appmesh:DescribeVirtualNode", NODE_ARN))
    with pytest.raises(Forbidden, match=f"is not authorized to perform: meshplane:DescribePolicy on resource: "
                                        f"{POLICY_ARN} because no identity-based policy allows"):
        _authorize(iam, "DescribePolicy", {"meshName": "m", "policyName": "p"})


def test_tags_need_tag_resource_and_a_listing_is_authorized_on_the_mesh() -> None:
    tagged = {"meshName": "m", "policyName": "p", "spec": SPEC, "tags": [{"key": "team", "value": "a"}]}
    iam = Iam(*(("meshplane:CreatePolicy", arn) for arn in (POLICY_ARN, NODE_ARN, ROUTE_ARN)))
    with pytest.raises(Forbidden, match=f"meshplane:TagResource on resource: {POLICY_ARN} "):
        _authorize(iam, "CreatePolicy", tagged)
    mesh_arn = f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/m"
    _authorize(Iam(("meshplane:ListPolicies", mesh_arn)), "ListPolicies", {"meshName": "m"})


def test_app_mesh_tag_operations_on_a_policy_are_meshplane_actions_on_its_arn() -> None:
    from meshplane.api.routes import operations

    def authorize(iam: Iam, operation: str, values: dict[str, Any]) -> None:
        event = {"requestContext": {"identity": {"userArn": USER, "accountId": ACCOUNT}}}
        model = next(op.input_model for op in operations() if op.name == operation)
        Authorizer(iam, Store()).authorize(event, operation, model.model_validate(values))

    tags = {"resourceArn": POLICY_ARN, "tags": [{"key": "team", "value": "a"}]}
    with pytest.raises(Forbidden, match=f"meshplane:TagResource on resource: {POLICY_ARN} "):
        authorize(Iam(("appmesh:TagResource", POLICY_ARN)), "TagResource", tags)
    iam = Iam(("meshplane:TagResource", POLICY_ARN), ("meshplane:UntagResource", POLICY_ARN),
              ("meshplane:ListTagsForResource", POLICY_ARN))
    authorize(iam, "TagResource", tags)
    authorize(iam, "UntagResource", {"resourceArn": POLICY_ARN, "tagKeys": ["team"]})
    authorize(iam, "ListTagsForResource", {"resourceArn": POLICY_ARN})
    assert iam.asked == [(f"meshplane:{op}", POLICY_ARN) for op in ("TagResource", "UntagResource",
                                                                     "ListTagsForResource")]
    authorize(Iam(("appmesh:TagResource", NODE_ARN)), "TagResource", {**tags, "resourceArn": NODE_ARN})
