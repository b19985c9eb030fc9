"""The local stack's IAM: a policy simulator, policy-aware access checks and SigV4 authentication, in moto.

moto 5 has no `iam:SimulatePrincipalPolicy`, and when its access checks are on they
ignore conditions and policy variables.  `install()` (called by the moto wrapper before
it serves) adds, inside the moto process and over moto's own IAM and STS backends:

- `SimulatePrincipalPolicy` and `SimulateCustomPolicy`, answering in the AWS shape
  botocore parses (`EvaluationResults` with `EvalDecision` allowed / explicitDeny /
  implicitDeny, `MatchedStatements`, `MissingContextValues`, the boundary's detail);
- the same evaluation for moto's own access checks, which it makes once enabled
  with `POST /moto-api/reset-auth` (so a task role's S3 reads are really refused);
- `POST /_meshplane/authenticate`, which verifies a request's SigV4 signature
  (`iam_authenticate`): the local API Gateway's IAM authorizer.

Local-stack code only: production asks AWS IAM.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from meshplane.local import iam_authenticate, iam_principals
from meshplane.local.iam_evaluator import (
    Decision,
    Evaluation,
    Policy,
    PolicyError,
    Request,
    evaluate,
    normalize_context,
)

_INSTALLED = "_meshplane_iam_emulation"


def install() -> None:
    """Patch moto in this process (idempotent); call before the server handles requests."""
    from moto.iam import access_control
    from moto.iam.responses import IamResponse

    if getattr(IamResponse, _INSTALLED, False):
        return
    IamResponse.simulate_principal_policy = _simulate_principal_policy  # type: ignore[attr-defined]
    IamResponse.simulate_custom_policy = _simulate_custom_policy  # type: ignore[attr-defined]
    access_control.IAMRequestBase.check_action_permitted = _check_action_permitted  # type: ignore[method-assign]
    iam_authenticate.install()
    setattr(IamResponse, _INSTALLED, True)


# --- the simulator ---------------------------------------------------------------------------


def simulate(
    policies: Sequence[Policy],
    boundary: Policy | None,
    actions: Iterable[str],
    resources: Iterable[str],
    context: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """`SimulatePolicyResponse` for each action on each resource (one result per pair)."""
    results = []
    for action in actions:
        for resource in resources:
            results.append(_result(action, resource, evaluate(policies, Request(action, resource, context), boundary)))
    return {"EvaluationResults": results, "IsTruncated": False}


def _result(action: str, resource: str, evaluation: Evaluation) -> dict[str, Any]:
    result: dict[str, Any] = {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": evaluation.decision.value,
        "MatchedStatements": [{"SourcePolicyId": m.policy_id, "SourcePolicyType": m.policy_type}
                              for m in evaluation.matched],
        "MissingContextValues": list(evaluation.missing),
    }
    if evaluation.allowed_by_boundary is not None:
        result["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": evaluation.allowed_by_boundary}
    return result


def request_context(entries: Iterable[Mapping[str, Any]] | None) -> dict[str, tuple[str, ...]]:
    """`ContextEntries` as condition-key values (names are case-insensitive)."""
    return normalize_context(
        {str(e["ContextKeyName"]): [str(v) for v in e.get("ContextKeyValues") or ()] for e in entries or ()}
    )


def _input_policies(documents: Iterable[str] | None, name: str) -> list[Policy]:
    return [Policy(f"{name}.{i}", "none", iam_principals.parse_document(doc))
            for i, doc in enumerate(documents or (), start=1)]


def _simulate(response: Any, policies: list[Policy], boundary: Policy | None,
              principal_context: Mapping[str, Sequence[str]]) -> Any:
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import InvalidInput, MalformedPolicyDocument

    actions = response._get_param("ActionNames") or []
    if not actions:
        raise InvalidInput("ActionNames: at least one action is required")
    resources = response._get_param("ResourceArns") or ["*"]
    context = {**principal_context, **request_context(response._get_param("ContextEntries"))}
    try:
        return ActionResult(simulate(policies, boundary, actions, resources, context))
    except PolicyError as exc:
        raise MalformedPolicyDocument(str(exc)) from None


def _simulate_principal_policy(self: Any) -> Any:
    from moto.iam.exceptions import MalformedPolicyDocument, NoSuchEntity

    source = self._get_param("PolicySourceArn")
    try:
        principal = iam_principals.by_arn(source)
        extra = _input_policies(self._get_param("PolicyInputList"), "PolicyInputList")
        boundaries = _input_policies(self._get_param("PermissionsBoundaryPolicyInputList"),
                                     "PermissionsBoundaryPolicyInputList")
    except iam_principals.UnknownPrincipal as exc:
        raise NoSuchEntity(str(exc)) from None
    except PolicyError as exc:
        raise MalformedPolicyDocument(str(exc)) from None
    boundary = boundaries[0] if boundaries else principal.boundary
    return _simulate(self, [*principal.policies, *extra], boundary, principal.context())


def _simulate_custom_policy(self: Any) -> Any:
    from moto.iam.exceptions import MalformedPolicyDocument, NoSuchEntity

    caller = self._get_param("CallerArn")
    try:
        policies = _input_policies(self._get_param("PolicyInputList"), "PolicyInputList")
        boundaries = _input_policies(self._get_param("PermissionsBoundaryPolicyInputList"),
                                     "PermissionsBoundaryPolicyInputList")
        context = iam_principals.by_arn(caller).context() if caller else {}
    except iam_principals.UnknownPrincipal as exc:
        raise NoSuchEntity(str(exc)) from None
    except PolicyError as exc:
        raise MalformedPolicyDocument(str(exc)) from None
    return _simulate(self, policies, boundaries[0] if boundaries else None, context)


# --- moto's own access checks ----------------------------------------------------------------


def _check_action_permitted(self: Any, resource: str) -> None:
    """moto's `IAMRequestBase.check_action_permitted`, deciding with the evaluator above."""
    if self._action == "sts:GetCallerIdentity":  # always allowed, as in AWS
        return
    token = self._headers.get("X-Amz-Security-Token")
    try:
        credentials = iam_principals.by_access_key(self._access_key._access_key_id, token)
    except iam_principals.InvalidCredentials:
        self._raise_invalid_access_key("InvalidToken" if token else "InvalidId")
        return
    principal = credentials.principal
    context = {**principal.context(), "aws:requestedregion": (self._region,), "aws:securetransport": ("false",)}
    try:
        decision = evaluate(principal.policies, Request(self._action, resource, context), principal.boundary).decision
    except PolicyError:
        decision = Decision.IMPLICIT_DENY
    if decision is not Decision.ALLOWED:
        self._raise_access_denied()
    if self._is_assuming_role_operation(resource) and not self._check_role_trust_relationship(resource):
        self._raise_access_denied()
