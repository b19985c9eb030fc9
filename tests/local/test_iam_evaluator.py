"""The local IAM evaluator against the semantics the IAM JSON policy reference documents."""

from __future__ import annotations

from typing import Any

import pytest
from meshplane.local.iam_evaluator import (
    Decision,
    Policy,
    PolicyError,
    Request,
    action_matches,
    evaluate,
    normalize_context,
    resource_matches,
)

ROUTE = "arn:aws:appmesh:us-east-1:123456789012:mesh/a/virtualRouter/r/route/x"


def policy(*statements: dict[str, Any], name: str = "p") -> Policy:
    return Policy(name, "user", {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(policies: list[Policy], action: str = "appmesh:CreateRoute", resource: str = ROUTE,
           boundary: Policy | None = None) -> Decision:
    return evaluate(policies, Request(action, resource), boundary).decision


def ctx(**entries: Any) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in entries.items()}


def decide_ctx(policies: list[Policy], context: dict[str, list[str]], action: str = "appmesh:CreateRoute",
               resource: str = ROUTE) -> Decision:
    return evaluate(policies, Request(action, resource, normalize_context(context))).decision


# --- the decision ---------------------------------------------------------------------------


def test_no_policy_is_an_implicit_deny() -> None:
    assert decide([]) is Decision.IMPLICIT_DENY
    assert decide([policy(allow("appmesh:DescribeMesh"))]) is Decision.IMPLICIT_DENY


def test_an_allow_allows_and_names_the_statement() -> None:
    evaluation = evaluate([policy({**allow("appmesh:*"), "Sid": "mesh"}, name="team")],
                          Request("appmesh:CreateRoute", ROUTE))
    assert evaluation.decision is Decision.ALLOWED
    assert [(m.policy_id, m.sid) for m in evaluation.matched] == [("team", "mesh")]


def test_an_explicit_deny_wins_over_any_allow_in_any_policy() -> None:
    decision = decide([policy(allow()), policy(deny("appmesh:CreateRoute", ROUTE), name="guard")])
    assert decision is Decision.EXPLICIT_DENY


def test_statement_may_be_a_single_object_and_values_single_strings() -> None:
    single = Policy("p", "user", {"Statement": allow("appmesh:CreateRoute", ROUTE)})
    assert decide([single]) is Decision.ALLOWED


def test_effect_must_be_allow_or_deny() -> None:
    with pytest.raises(PolicyError):
        decide([policy({"Effect": "Maybe", "Action": "*", "Resource": "*"})])


# --- Action and Resource ------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "action", "matches"), [
    ("appmesh:CreateRoute", "appmesh:createroute", True),  # actions are case-insensitive
    ("appmesh:Create*", "appmesh:CreateRoute", True),
    ("appmesh:Describe*", "appmesh:CreateRoute", False),
    ("appmesh:*Route", "appmesh:DeleteGatewayRoute", True),
    ("appmesh:?reateRoute", "appmesh:CreateRoute", True),
    ("appmesh:?reateRoute", "appmesh:ReCreateRoute", False),
    ("*", "s3:GetObject", True),
    ("s3:*", "appmesh:CreateRoute", False),
])
def test_action_wildcards(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches


def test_not_action_applies_to_every_other_action() -> None:
    everything_but_delete = policy({"Effect": "Allow", "NotAction": "appmesh:Delete*", "Resource": "*"})
    assert decide([everything_but_delete]) is Decision.ALLOWED
    assert decide([everything_but_delete], action="appmesh:DeleteRoute") is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(("pattern", "resource", "matches"), [
    ("arn:aws:appmesh:*:*:mesh/a/*", ROUTE, True),
    ("arn:aws:appmesh:*:*:mesh/b/*", ROUTE, False),
    ("arn:aws:appmesh:us-east-1:123456789012:mesh/a/virtualRouter/r/route/?", ROUTE, True),
    ("arn:aws:appmesh:us-east-1:123456789012:mesh/a", ROUTE, False),  # no prefix matching
    ("arn:aws:appmesh:us-*:123456789012:mesh/a/*", ROUTE, True),
    ("arn:aws:appmesh:u*1:123456789012:mesh/a/*", ROUTE, True),
    ("arn:aws:app*1:123456789012:mesh/a/*", ROUTE, False),  # a `*` inside a segment stays in it
    ("arn:aws:appmesh:*", ROUTE, True),  # a segment's trailing `*` may cross colons
    ("arn:aws:s3:::bucket/pointers/a/*", "arn:aws:s3:::bucket/pointers/a/virtualNode/n.json", True),
    ("arn:aws:s3:::bucket/pointers/a/*", "arn:aws:s3:::bucket/pointers/ab/virtualNode/n.json", False),
    ("ARN:aws:appmesh:*:*:mesh/a/*", ROUTE, False),  # resources are case-sensitive
])
def test_resource_wildcards(pattern: str, resource: str, matches: bool) -> None:
    assert resource_matches(pattern, resource, {}) is matches


def test_not_resource_and_lists() -> None:
    others = policy({"Effect": "Allow", "Action": "appmesh:*", "NotResource": ["arn:aws:appmesh:*:*:mesh/a/*"]})
    assert decide([others]) is Decision.IMPLICIT_DENY
    assert decide([others], resource=ROUTE.replace("mesh/a/", "mesh/b/")) is Decision.ALLOWED
    listed = policy(allow(["appmesh:DescribeMesh", "appmesh:CreateRoute"], ["arn:aws:s3:::x", ROUTE]))
    assert decide([listed]) is Decision.ALLOWED


# --- policy variables ----------------------------------------------------------------------


def test_username_variable_in_a_resource() -> None:
    own = policy(allow("s3:GetObject", "arn:aws:s3:::b/home/${aws:username}/*"))
    assert decide_ctx([own], ctx(**{"aws:username": "bob"}), "s3:GetObject", "arn:aws:s3:::b/home/bob/x") \
        is Decision.ALLOWED
    assert decide_ctx([own], ctx(**{"aws:username": "bob"}), "s3:GetObject", "arn:aws:s3:::b/home/alice/x") \
        is Decision.IMPLICIT_DENY


def test_a_variable_without_a_value_matches_nothing_and_a_default_fills_in() -> None:
    own = policy(allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalTag/team}/*"))
    assert decide_ctx([own], {}, "s3:GetObject", "arn:aws:s3:::b/x/y") is Decision.IMPLICIT_DENY
    defaulted = policy(allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalTag/team, 'shared'}/*"))
    assert decide_ctx([defaulted], {}, "s3:GetObject", "arn:aws:s3:::b/shared/y") is Decision.ALLOWED


def test_variable_values_match_literally_and_tag_keys_are_case_insensitive() -> None:
    own = policy(allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalTag/Team}/*"))
    star = ctx(**{"aws:principaltag/team": "*"})
    assert decide_ctx([own], star, "s3:GetObject", "arn:aws:s3:::b/other/y") is Decision.IMPLICIT_DENY
    assert decide_ctx([own], star, "s3:GetObject", "arn:aws:s3:::b/*/y") is Decision.ALLOWED


def test_literal_escapes() -> None:
    literal = policy(allow("s3:GetObject", "arn:aws:s3:::b/${*}"))
    assert decide_ctx([literal], {}, "s3:GetObject", "arn:aws:s3:::b/*") is Decision.ALLOWED
    assert decide_ctx([literal], {}, "s3:GetObject", "arn:aws:s3:::b/x") is Decision.IMPLICIT_DENY


def test_a_variable_in_a_resource_arn_does_not_shift_the_segments() -> None:
    own = policy(allow("appmesh:*", "arn:aws:appmesh:${aws:RequestedRegion}:*:mesh/${aws:PrincipalTag/mesh}/*"))
    context = ctx(**{"aws:requestedregion": "us-east-1", "aws:principaltag/mesh": "a"})
    assert decide_ctx([own], context) is Decision.ALLOWED
    assert decide_ctx([own], {**context, "aws:principaltag/mesh": ["b"]}) is Decision.IMPLICIT_DENY


# --- conditions ----------------------------------------------------------------------------


def conditioned(condition: dict[str, Any], effect: str = "Allow") -> Policy:
    return policy({"Effect": effect, "Action": "*", "Resource": "*", "Condition": condition})


@pytest.mark.parametrize(("condition", "context", "expected"), [
    ({"StringEquals": {"aws:ResourceTag/team": "red"}}, {"aws:ResourceTag/team": "red"}, True),
    ({"StringEquals": {"aws:ResourceTag/team": "red"}}, {"aws:ResourceTag/team": "Red"}, False),
    ({"StringEquals": {"aws:ResourceTag/team": ["blue", "red"]}}, {"aws:ResourceTag/team": "red"}, True),
    ({"StringEquals": {"aws:ResourceTag/team": "red"}}, {}, False),
    ({"StringEqualsIgnoreCase": {"aws:ResourceTag/team": "RED"}}, {"aws:ResourceTag/team": "red"}, True),
    ({"StringNotEquals": {"aws:ResourceTag/team": "red"}}, {"aws:ResourceTag/team": "blue"}, True),
    ({"StringNotEquals": {"aws:ResourceTag/team": "red"}}, {"aws:ResourceTag/team": "red"}, False),
    ({"StringNotEquals": {"aws:ResourceTag/team": "red"}}, {}, True),  # negated: true when absent
    ({"StringNotEqualsIgnoreCase": {"aws:ResourceTag/team": "RED"}}, {"aws:ResourceTag/team": "red"}, False),
    ({"StringLike": {"aws:ResourceTag/team": "r*"}}, {"aws:ResourceTag/team": "red"}, True),
    ({"StringLike": {"aws:ResourceTag/team": "r?d"}}, {"aws:ResourceTag/team": "reed"}, False),
    ({"StringNotLike": {"aws:ResourceTag/team": "r*"}}, {"aws:ResourceTag/team": "blue"}, True),
    ({"StringEqualsIfExists": {"aws:ResourceTag/team": "red"}}, {}, True),
    ({"StringEqualsIfExists": {"aws:ResourceTag/team": "red"}}, {"aws:ResourceTag/team": "blue"}, False),
    ({"StringEquals": {"AWS:RESOURCETAG/TEAM": "red"}}, {"aws:resourcetag/team": "red"}, True),  # keys: any case
    ({"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
     {"aws:ResourceTag/team": "red", "aws:PrincipalTag/team": "red"}, True),
    ({"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
     {"aws:ResourceTag/team": "red", "aws:PrincipalTag/team": "blue"}, False),
    ({"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}, {"aws:ResourceTag/team": "red"}, False),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app-*"}},
     {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app-front"}, True),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app-*"}},
     {"aws:PrincipalArn": "arn:aws:iam::123456789012:user/app-front"}, False),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}, {"aws:PrincipalArn": "not-an-arn"}, False),
    ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app"}},
     {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app"}, True),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app-*"}},
     {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/admin"}, True),
    ({"Null": {"aws:ResourceTag/team": "true"}}, {}, True),
    ({"Null": {"aws:ResourceTag/team": "true"}}, {"aws:ResourceTag/team": "red"}, False),
    ({"Null": {"aws:ResourceTag/team": "false"}}, {"aws:ResourceTag/team": "red"}, True),
    ({"Null": {"aws:ResourceTag/team": False}}, {}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, True),
    ({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "false"}, False),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "9"}, True),
    ({"NumericLessThan": {"s3:max-keys": 10}}, {"s3:max-keys": "10"}, False),
    ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True),
    ({"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, True),
    ({"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "9.5"}, False),
    ({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "ten"}, False),  # not a number: no match
    ({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, True),
    ({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, {"aws:CurrentTime": "2029-12-31T23:59:59Z"}, True),
    ({"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, {"aws:CurrentTime": "1893456000"}, False),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.2.3"}, True),
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "192.168.1.1"}, True),
    ({"BinaryEquals": {"k": "aGk="}}, {"k": "aGk="}, True),
])
def test_condition_operators(condition: dict[str, Any], context: dict[str, str], expected: bool) -> None:
    decision = decide_ctx([conditioned(condition)], ctx(**context))
    assert decision is (Decision.ALLOWED if expected else Decision.IMPLICIT_DENY)


@pytest.mark.parametrize(("operator", "keys", "expected"), [
    ("ForAllValues:StringEquals", ["team", "env"], True),
    ("ForAllValues:StringEquals", ["team", "owner"], False),
    ("ForAllValues:StringEquals", None, True),  # no keys at all: vacuously true
    ("ForAnyValue:StringEquals", ["owner", "env"], True),
    ("ForAnyValue:StringEquals", ["owner"], False),
    ("ForAnyValue:StringEquals", None, False),
    ("ForAllValues:StringLike", ["team", "t*"], True),
    ("ForAnyValue:StringNotEquals", ["team", "env"], False),  # every key is one of the allowed
    ("ForAnyValue:StringNotEquals", ["team", "owner"], True),
    ("ForAllValues:StringNotEquals", ["owner", "cost"], True),
    ("ForAllValues:StringNotEquals", ["owner", "team"], False),
    ("StringEquals", ["owner", "team"], True),  # no qualifier: any value matching
    ("StringNotEquals", ["owner", "team"], False),  # negated without qualifier: no value may match
    ("StringNotEquals", ["owner", "cost"], True),
])
def test_set_qualifiers_over_multivalued_keys(operator: str, keys: list[str] | None, expected: bool) -> None:
    pattern = ["team", "env", "t*"] if "Like" in operator else ["team", "env"]
    rule = conditioned({operator: {"aws:TagKeys": pattern}})
    context = {} if keys is None else {"aws:TagKeys": keys}
    assert (decide_ctx([rule], context) is Decision.ALLOWED) is expected


def test_conditions_are_and_between_operators_and_keys() -> None:
    both = conditioned({"StringEquals": {"aws:ResourceTag/team": "red", "aws:ResourceTag/env": "prod"},
                        "Bool": {"aws:SecureTransport": "true"}})
    full = {"aws:ResourceTag/team": "red", "aws:ResourceTag/env": "prod", "aws:SecureTransport": "true"}
    assert decide_ctx([both], ctx(**full)) is Decision.ALLOWED
    for key in full:
        partial = {k: v for k, v in full.items() if k != key}
        assert decide_ctx([both], ctx(**partial)) is Decision.IMPLICIT_DENY, key


def test_a_conditional_deny_applies_only_when_it_holds() -> None:
    policies = [policy(allow()), conditioned({"StringEquals": {"aws:RequestTag/team": "red"}}, effect="Deny")]
    assert decide_ctx(policies, ctx(**{"aws:RequestTag/team": "red"})) is Decision.EXPLICIT_DENY
    assert decide_ctx(policies, ctx(**{"aws:RequestTag/team": "blue"})) is Decision.ALLOWED


def test_missing_context_values_are_reported() -> None:
    rule = conditioned({"StringEquals": {"aws:ResourceTag/team": "red"}})
    evaluation = evaluate([rule], Request("appmesh:CreateRoute", ROUTE, {}))
    assert evaluation.missing == ("aws:ResourceTag/team",)


@pytest.mark.parametrize("operator", ["StringMaybe", "Foo:StringEquals", "IfExists"])
def test_unknown_operators_are_refused(operator: str) -> None:
    with pytest.raises(PolicyError):
        decide_ctx([conditioned({operator: {"k": "v"}})], ctx(k="v"))


# --- permissions boundary ------------------------------------------------------------------


def test_a_boundary_limits_but_never_grants() -> None:
    boundary = Policy("boundary", "user-managed", {"Statement": [allow("appmesh:Describe*")]})
    assert decide([policy(allow())], boundary=boundary) is Decision.IMPLICIT_DENY
    assert decide([policy(allow())], action="appmesh:DescribeMesh", boundary=boundary) is Decision.ALLOWED
    assert decide([], action="appmesh:DescribeMesh", boundary=boundary) is Decision.IMPLICIT_DENY
    evaluation = evaluate([policy(allow())], Request("appmesh:CreateRoute", ROUTE), boundary)
    assert evaluation.allowed_by_boundary is False


def test_a_deny_in_the_boundary_is_explicit() -> None:
    boundary = Policy("boundary", "user-managed", {"Statement": [allow(), deny("appmesh:CreateRoute")]})
    assert decide([policy(allow())], boundary=boundary) is Decision.EXPLICIT_DENY
