"""The principal IAM judges: a role session is its role (path read back from IAM), a user is itself."""

from __future__ import annotations

import pytest
from meshplane.identity.errors import Forbidden
from meshplane.identity.principals import Principals

from .conftest import Aws


def test_a_role_session_is_judged_as_its_role_with_the_path_iam_knows(aws: Aws) -> None:
    role, _ = aws.role(path="/team/proxies/")
    name = role.rpartition("/")[2]
    principals = Principals(aws.client("iam"))
    assert principals.principal(f"arn:aws:sts::123456789012:assumed-role/{name}/task-1") == role
    assert role.startswith("arn:aws:iam::123456789012:role/team/proxies/proxy-")


def test_a_user_is_taken_as_sts_names_it(aws: Aws) -> None:
    user = "arn:aws:iam::123456789012:user/ops/jane"
    assert Principals(aws.client("iam")).principal(user) == user


@pytest.mark.parametrize("arn", ["arn:aws:iam::123456789012:root", "arn:aws:sts::123456789012:federated-user/bob",
                                 "arn:aws:sts::123456789012:assumed-role/no-session", "not-an-arn"])  # fmt: skip
def test_principals_that_cannot_be_simulated_are_refused(aws: Aws, arn: str) -> None:
    with pytest.raises(Forbidden):
        Principals(aws.client("iam")).principal(arn)


def test_a_session_of_a_role_that_no_longer_exists_is_refused(aws: Aws) -> None:
    with pytest.raises(Forbidden, match="does not exist"):
        Principals(aws.client("iam")).principal("arn:aws:sts::123456789012:assumed-role/gone/task")
