"""meshplane Policy resources for in-memory mesh states, and the refusal a bad section gets.

Tests build `MeshState(policies=...)` as they build `tags=`: `policy(mesh, name, spec)` is one
stored Policy (metadata filled in), `refused(model, body)` the single validation error a bad
section raises, at the dotted location a BadRequest message names.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from meshplane.model.policy.spec import PolicyData
from pydantic import BaseModel, ValidationError

ACCOUNT = "123456789012"


def policy(mesh: str, name: str, spec: dict[str, Any]) -> PolicyData:
    """The policy `name` of `mesh` with `spec` (targets and sections, camelCase), as the store holds it."""
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    metadata = {"arn": f"arn:aws:appmesh:us-west-2:{ACCOUNT}:mesh/{mesh}/policy/{name}", "uid": f"uid-{name}",
                "version": 1, "createdAt": when, "lastUpdatedAt": when, "meshOwner": ACCOUNT,
                "resourceOwner": ACCOUNT}  # fmt: skip
    return PolicyData.model_validate({"meshName": mesh, "policyName": name, "spec": spec, "metadata": metadata})


def refused(model: type[BaseModel], body: dict[str, Any]) -> tuple[str, str]:
    """(dotted location, message) of the single error `body` raises."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return ".".join(str(part) for part in errors[0]["loc"]), errors[0]["msg"]
