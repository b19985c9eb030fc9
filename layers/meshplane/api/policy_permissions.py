"""The IAM actions and resources of the Policy extension API.

The actions are `meshplane:<Operation>` (`meshplane:CreatePolicy` ...), not `appmesh:`: a policy
can open or close service-to-service authorization, so it must not be granted by an `appmesh:*`
statement written for App Mesh, and App Mesh's own action list stays exactly as AWS documents it.
As for App Mesh's writes:
- Create/Describe/Update/Delete act on the policy's ARN, `arn:<p>:meshplane:<r>:<a>:mesh/<m>/policy/<n>`;
  ListPolicies on the mesh's App Mesh ARN;
- a create or update is also authorized on the App Mesh ARN of every target it names, so an
  operator can limit who attaches policies to which resources (`aws:ResourceTag/*` of the target);
- a create that carries tags also needs `meshplane:TagResource` on the new policy;
- App Mesh's TagResource, UntagResource and ListTagsForResource on a policy's ARN are
  `meshplane:<Operation>` on it, with the policy's tags as `aws:ResourceTag/*`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshplane.api.permissions import TAG_OPERATIONS, ArnOf, Check, tag_check
from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.policy.keys import PolicyKey
from meshplane.store.policies import SERVICE

PolicyArnOf = Callable[[PolicyKey], str]


def checks(operation: str, inp: Any, arn: ArnOf, policy_arn: PolicyArnOf) -> list[Check]:
    """Every check `operation` with validated input `inp` must pass, the policy's own first."""
    action = f"{SERVICE}:{operation}"
    if operation == "ListPolicies":
        mesh = ResourceKey(Kind.MESH, inp.mesh_name, inp.mesh_name)
        return [Check(action, arn(mesh), mesh)]
    key = PolicyKey(inp.mesh_name, inp.policy_name)
    tags = {t.key: t.value for t in getattr(inp, "tags", None) or ()}
    tag_keys = tuple(tags) if tags else None
    found = [Check(action, policy_arn(key), key, tags, tag_keys)]
    spec = getattr(inp, "spec", None)
    if spec is not None:
        found += [Check(action, arn(t), t, tags, tag_keys) for t in sorted(set(spec.target_keys(inp.mesh_name)))]
    if operation == "CreatePolicy" and tags:
        found.append(Check(f"{SERVICE}:TagResource", policy_arn(key), key, tags, tag_keys))
    return found


def tag_checks(operation: str, inp: Any, policy_arn: PolicyArnOf) -> list[Check] | None:
    """The check of an App Mesh tag operation on a policy's ARN; None for any other call (App Mesh's own apply)."""
    if operation not in TAG_OPERATIONS:
        return None
    try:
        key = PolicyKey.from_arn(inp.resource_arn)
    except ValueError:
        return None
    stored = key if policy_arn(key) == inp.resource_arn else None  # another account's policy has no tags here
    return [tag_check(SERVICE, operation, inp, stored)]
