"""API authorization as App Mesh did it: each call is the App Mesh action on its resource, for its caller.

API Gateway's IAM authorizer has checked the SigV4 signature and `execute-api:Invoke`;
it hands the Lambda the caller in `requestContext.identity` (`userArn`, `accountId`).
The caller's own IAM policies then decide, as they did in App Mesh: `iam:SimulatePrincipalPolicy`
for that principal, the action and resource of `permissions.checks`, and the condition keys
of the request (`aws:ResourceTag/*` from the stored resource, `aws:RequestTag/*`,
`aws:TagKeys`) plus the principal's own (`aws:PrincipalTag/*`, `aws:username`, ...).

A write that names an ACM certificate for a listener also needs the caller to be allowed
`acm:ExportCertificate` on it: the control plane exports the key into that proxy's
snapshot, and only someone who may export it may ask for that (no confused deputy).

Decisions are cached for `DECISION_SECONDS`, keyed by principal, action, resource and
every context value, so a policy change reaches the API within that time.  Anything that
prevents a decision (no caller, a foreign account, IAM failing) denies: fail closed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from meshplane.api import permissions
from meshplane.model.acm_arns import CERTIFICATE, acm_refs
from meshplane.model.ids import ResourceKey
from meshplane.model.policy.keys import DependencyKey, PolicyKey
from meshplane.store import schema
from meshplane.store.errors import Forbidden
from meshplane.ttlcache import TtlCache

# (principal, action, resource, the sorted condition keys): what one IAM decision depends on
DecisionKey = tuple[str, str, str, tuple[tuple[str, tuple[str, ...]], ...]]

DECISION_SECONDS = 15.0
MAX_CACHED = 10_000
_ACM_FIELDS_OF = ("CreateVirtualNode", "UpdateVirtualNode", "CreateVirtualGateway", "UpdateVirtualGateway")


class Unauthenticated(Exception):
    """API Gateway refused the request before the Lambda: unsigned, forged, stale or unknown credentials."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def response(self) -> dict[str, Any]:
        """API Gateway's answer: 403, `{"message"}` and the error type botocore reads."""
        return {"statusCode": 403, "isBase64Encoded": False, "body": json.dumps({"message": self.message}),
                "headers": {"Content-Type": "application/json", "x-amzn-ErrorType": self.code}}


@dataclass(frozen=True)
class Caller:
    """The principal API Gateway authenticated (`requestContext.identity`)."""

    arn: str
    account: str
    user_id: str | None = None
    source_ip: str | None = None

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> Caller | None:
        identity = (event.get("requestContext") or {}).get("identity") or {}
        arn, account = identity.get("userArn"), identity.get("accountId")
        if not isinstance(arn, str) or not arn or not isinstance(account, str) or not account:
            return None
        user_id = identity.get("caller") or identity.get("user")
        source_ip = identity.get("sourceIp")
        return cls(arn, account, user_id if isinstance(user_id, str) else None,
                   source_ip if isinstance(source_ip, str) else None)


@dataclass(frozen=True)
class Principal:
    """What `iam:SimulatePrincipalPolicy` is asked about for one caller."""

    source_arn: str  # a user or role ARN (a session is simulated as its role); "" for the account root
    context: tuple[tuple[str, tuple[str, ...]], ...]  # the principal's own condition keys

    @property
    def is_root(self) -> bool:
        return not self.source_arn


class Authorizer:
    """Decides every API call with the caller's IAM policies; raises Forbidden to deny."""

    def __init__(self, iam: Any, store: Any, *, seconds: float = DECISION_SECONDS, size: int = MAX_CACHED,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.iam, self.store = iam, store
        self.decisions: TtlCache[DecisionKey, str] = TtlCache(seconds, size, clock)
        self.principals: TtlCache[str, Principal] = TtlCache(seconds, size, clock)

    def authorize(self, event: Mapping[str, Any], operation: str, inp: Any) -> None:
        from meshplane.api import policy_permissions

        caller = self._caller(event)
        on_policy = policy_permissions.tag_checks(operation, inp, self._policy_arn)
        for check in on_policy if on_policy is not None else permissions.checks(operation, inp, self._arn):
            self._allow(caller, check.action, check.resource, self._condition_keys(check))
        if operation in _ACM_FIELDS_OF and getattr(inp, "spec", None) is not None:
            for ref in acm_refs(inp.spec):
                if ref.kind == CERTIFICATE:
                    self._allow(caller, "acm:ExportCertificate", ref.arn, {}, f" (spec.{ref.field})")

    def authorize_policy(self, event: Mapping[str, Any], operation: str, inp: Any) -> None:
        """A Policy extension call (`api.policy_permissions`), decided the same way."""
        from meshplane.api import policy_permissions

        caller = self._caller(event)
        for check in policy_permissions.checks(operation, inp, self._arn, self._policy_arn):
            self._allow(caller, check.action, check.resource, self._condition_keys(check))

    def authorize_checks(self, event: Mapping[str, Any], found: Iterable[permissions.Check]) -> None:
        """Checks a handler made itself (meshplane's proxy reads, `api.proxy_status`), decided the same way."""
        caller = self._caller(event)
        for check in found:
            self._allow(caller, check.action, check.resource, self._condition_keys(check))

    @staticmethod
    def _caller(event: Mapping[str, Any]) -> Caller:
        caller = Caller.of(event)
        if caller is None:
            raise Forbidden("Missing authentication: the request carries no IAM caller; sign it with SigV4")
        return caller

    # --- one decision ----------------------------------------------------------------------

    def _allow(self, caller: Caller, action: str, resource: str, keys: Mapping[str, tuple[str, ...]],
               where: str = "") -> None:
        def refused(reason: str) -> Forbidden:
            return Forbidden(f"User: {caller.arn} is not authorized to perform: {action} on resource: "
                             f"{resource}{where} {reason}")

        if caller.account != self.store.account:
            raise refused(f"because the caller's account {caller.account} is not this mesh owner's "
                          f"({self.store.account}); meshes shared from other accounts are not supported")
        try:
            principal = self._principal(caller)
        except _NotSimulated as exc:
            raise refused(str(exc)) from None
        if principal.is_root:
            return  # the account root is not bound by IAM policies
        context = {**dict(principal.context), **keys}
        if caller.source_ip:
            context["aws:SourceIp"] = (caller.source_ip,)
        context["aws:RequestedRegion"] = (self.store.region,)
        key = (principal.source_arn, action, resource, tuple(sorted(context.items())))
        decision = self.decisions.get(key)
        if decision is None:
            try:
                decision = self._simulate(principal.source_arn, action, resource, context)
            except _NotSimulated as exc:
                raise refused(str(exc)) from None
            self.decisions.put(key, decision)
        if decision == "allowed":
            return
        if decision == "explicitDeny":
            raise refused("with an explicit deny in an identity-based policy")
        raise refused(f"because no identity-based policy allows the {action} action")

    def _simulate(self, source: str, action: str, resource: str, context: Mapping[str, tuple[str, ...]]) -> str:
        entries = [{"ContextKeyName": name, "ContextKeyValues": list(values), "ContextKeyType": _type(name, values)}
                   for name, values in sorted(context.items())]
        answer = _asked(lambda: self.iam.simulate_principal_policy(
            PolicySourceArn=source, ActionNames=[action], ResourceArns=[resource], ContextEntries=entries))
        results = answer.get("EvaluationResults") or []
        if len(results) != 1 or results[0].get("EvalDecision") not in ("allowed", "explicitDeny", "implicitDeny"):
            raise _NotSimulated("because IAM's policy simulation gave no decision")
        return str(results[0]["EvalDecision"])

    # --- the caller as IAM knows it --------------------------------------------------------

    def _principal(self, caller: Caller) -> Principal:
        found = self.principals.get(caller.arn)
        if found is None:
            found = self._resolve(caller)
            self.principals.put(caller.arn, found)
        return found

    def _resolve(self, caller: Caller) -> Principal:
        parts = caller.arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[4] != caller.account:
            raise _NotSimulated("because the caller's ARN is malformed")
        service, resource = parts[2], parts[5]
        base: dict[str, tuple[str, ...]] = {"aws:PrincipalAccount": (caller.account,)}
        if caller.user_id:
            base["aws:userid"] = (caller.user_id,)
        if service == "iam" and resource == "root":
            return Principal("", ())
        if service == "iam" and resource.startswith("user/"):
            name = resource.rsplit("/", 1)[-1]
            tags = _asked(lambda: self.iam.list_user_tags(UserName=name, MaxItems=1000)).get("Tags") or []
            context = {**base, "aws:PrincipalArn": (caller.arn,), "aws:username": (name,),
                       "aws:PrincipalType": ("User",), **_principal_tags(tags)}
            return Principal(caller.arn, tuple(sorted(context.items())))
        if service == "sts" and resource.startswith("assumed-role/") and resource.count("/") == 2:
            role_name = resource.split("/")[1]
            role = _asked(lambda: self.iam.get_role(RoleName=role_name)).get("Role") or {}
            role_arn = role.get("Arn")
            if not isinstance(role_arn, str):
                raise _NotSimulated(f"because IAM has no role {role_name}")
            context = {**base, "aws:PrincipalArn": (role_arn,), "aws:PrincipalType": ("AssumedRole",),
                       **_principal_tags(role.get("Tags") or [])}
            return Principal(role_arn, tuple(sorted(context.items())))
        raise _NotSimulated("because only IAM users, assumed-role sessions and the account root are authorized "
                            "(federated users are not)")

    def _arn(self, key: ResourceKey) -> str:
        return key.arn(self.store.region, self.store.account, partition=self.store.partition)

    def _policy_arn(self, key: PolicyKey) -> str:
        from meshplane.store.policies import policy_arn

        return policy_arn(key, self.store.region, self.store.account, self.store.partition)

    def _condition_keys(self, check: permissions.Check) -> dict[str, tuple[str, ...]]:
        keys: dict[str, tuple[str, ...]] = {}
        if check.key is not None:
            item = self._item(check.key)
            if item is not None:
                keys.update({f"aws:ResourceTag/{k}": (v,) for k, v in schema.tags_of_item(item).items()})
        keys.update({f"aws:RequestTag/{k}": (v,) for k, v in check.request_tags.items()})
        if check.tag_keys is not None:
            keys["aws:TagKeys"] = tuple(check.tag_keys)
        return keys


    def _item(self, key: DependencyKey) -> dict[str, Any] | None:
        if isinstance(key, PolicyKey):
            from meshplane.store.policies import PolicyStore

            return PolicyStore(self.store).get_item(key)
        item: dict[str, Any] | None = self.store.get_item(key)
        return item


class _NotSimulated(Exception):
    """No decision could be had; the call is denied with this reason."""


def _asked(call: Callable[[], Any]) -> Any:
    """An IAM answer; any IAM or network failure becomes a reason to deny."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise _NotSimulated(f"because IAM refused to evaluate it ({error.get('Code', 'Error')}: "
                            f"{error.get('Message', '')}); denied") from None
    except BotoCoreError as exc:
        raise _NotSimulated(f"because IAM could not be reached ({type(exc).__name__}); denied") from None


def _principal_tags(tags: Iterable[Mapping[str, str]]) -> dict[str, tuple[str, ...]]:
    return {f"aws:PrincipalTag/{t['Key']}": (t["Value"],) for t in tags}


def _type(name: str, values: tuple[str, ...]) -> str:
    if name == "aws:SourceIp":
        return "ip"
    return "stringList" if name == "aws:TagKeys" or len(values) != 1 else "string"
