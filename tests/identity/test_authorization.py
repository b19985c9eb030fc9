"""IAM decides who may be which node: only `allowed` allows, decisions live a bounded time, errors deny."""

from __future__ import annotations

from typing import Any

from meshplane.identity.authorization import STREAM_ACTION, NodeAuthorizer

from .conftest import Clock

ROLE = "arn:aws:iam::123456789012:role/proxy"
NODE = "arn:aws:appmesh:us-east-1:123456789012:mesh/m/virtualNode/a"
OTHER = "arn:aws:appmesh:us-east-1:123456789012:mesh/m/virtualNode/b"


class Iam:
    """An injected IAM client: answers SimulatePrincipalPolicy with `decision`, counts the questions."""

    def __init__(self, decision: str = "allowed") -> None:
        self.decision = decision
        self.asked: list[dict[str, Any]] = []
        self.error: Exception | None = None

    def simulate_principal_policy(self, **request: Any) -> dict[str, Any]:
        self.asked.append(request)
        if self.error:
            raise self.error
        return {"EvaluationResults": [{"EvalActionName": request["ActionNames"][0],
                                       "EvalResourceName": request["ResourceArns"][0],
                                       "EvalDecision": self.decision}]}  # fmt: skip


def test_the_question_is_stream_aggregated_resources_on_the_node_for_the_principal() -> None:
    iam = Iam()
    assert NodeAuthorizer(iam).allowed(ROLE, NODE)
    assert iam.asked == [{"PolicySourceArn": ROLE, "ActionNames": [STREAM_ACTION], "ResourceArns": [NODE]}]


def test_only_allowed_allows() -> None:
    for decision in ("implicitDeny", "explicitDeny", "Allowed", ""):
        assert not NodeAuthorizer(Iam(decision)).allowed(ROLE, NODE)


def test_a_decision_is_cached_for_its_lifetime_then_asked_again() -> None:
    iam, clock = Iam(), Clock()
    authorizer = NodeAuthorizer(iam, ttl=60, clock=clock)
    assert authorizer.allowed(ROLE, NODE)
    iam.decision = "implicitDeny"  # the permission is removed
    clock.now = 59.9
    assert authorizer.allowed(ROLE, NODE), "within the cache lifetime"
    clock.now = 60.0
    assert not authorizer.allowed(ROLE, NODE), "revoked once the cached decision expired"
    assert len(iam.asked) == 2


def test_decisions_are_per_principal_and_node() -> None:
    iam = Iam()
    authorizer = NodeAuthorizer(iam)
    authorizer.allowed(ROLE, NODE)
    iam.decision = "implicitDeny"
    assert not authorizer.allowed(ROLE, OTHER)
    assert not authorizer.allowed(ROLE + "2", NODE)


def test_an_iam_error_denies_and_is_not_cached() -> None:
    iam = Iam()
    iam.error = ConnectionError("throttled")
    authorizer = NodeAuthorizer(iam)
    assert not authorizer.allowed(ROLE, NODE)
    iam.error = None
    assert authorizer.allowed(ROLE, NODE)


def test_the_cache_is_bounded() -> None:
    iam = Iam()
    authorizer = NodeAuthorizer(iam, max_entries=2)
    for node in (NODE, OTHER, NODE + "x"):
        authorizer.allowed(ROLE, node)
    authorizer.allowed(ROLE, NODE)  # the least recently used went first
    assert len(iam.asked) == 4
