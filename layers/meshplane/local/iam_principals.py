"""IAM principals as moto stores them: their identity policies, boundary and request-context keys.

Runs inside the moto process (see `iam_emulation`). A principal is named by ARN (a
user, a role, a group, or an `sts` assumed-role session, which is its role) or found
by the access key that signed a request (an IAM user's key, or an assumed role's
temporary key with its session token).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from meshplane.local.iam_evaluator import Policy, PolicyError
from meshplane.sigv4 import UnknownKey


class UnknownPrincipal(LookupError):
    """No such user, role, group or session in the emulator."""


class InvalidCredentials(UnknownKey):
    """An access key or session token the emulator does not know, or no longer honours."""


@dataclass(frozen=True)
class Principal:
    arn: str  # as presented: a user, role or group ARN, or an assumed-role session ARN
    account: str
    kind: str  # "user", "role", "group" or "assumed-role"
    user_id: str
    policies: tuple[Policy, ...]
    boundary: Policy | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    name: str = ""  # the user, role or group name
    principal_arn: str = ""  # `aws:PrincipalArn`: a session's role ARN, otherwise `arn`

    def context(self, now: datetime | None = None) -> dict[str, tuple[str, ...]]:
        """The global condition keys AWS fills for this principal (lower-cased names)."""
        moment = now or datetime.now(UTC)
        keys: dict[str, tuple[str, ...]] = {
            "aws:principalarn": (self.principal_arn,),
            "aws:principalaccount": (self.account,),
            "aws:principaltype": ({"user": "User", "group": "User"}.get(self.kind, "AssumedRole"),),
            "aws:userid": (self.user_id,),
            "aws:principalisawsservice": ("false",),
            "aws:currenttime": (moment.strftime("%Y-%m-%dT%H:%M:%SZ"),),
            "aws:epochtime": (str(int(moment.timestamp())),),
        }
        if self.kind == "user":
            keys["aws:username"] = (self.name,)
        for key, value in self.tags.items():
            keys[f"aws:principaltag/{key.lower()}"] = (value,)
        return keys


def by_arn(arn: str) -> Principal:
    """The principal an ARN names; UnknownPrincipal when the emulator holds none."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] not in ("iam", "sts"):
        raise UnknownPrincipal(f"not an IAM principal ARN: {arn}")
    partition, service, account, resource = parts[1], parts[2], parts[4], parts[5]
    backend = _iam(account, partition)
    kind, _, rest = resource.partition("/")
    name = rest.rsplit("/", 1)[-1]
    try:
        if service == "sts" and kind == "assumed-role":
            role_name, _, session = rest.partition("/")
            if not session:
                raise UnknownPrincipal(f"not an assumed-role session ARN: {arn}")
            return _role(backend, backend.get_role(role_name), arn, session)
        if service == "iam" and kind == "user":
            user = backend.get_user(name)
            if user.arn != arn:
                raise UnknownPrincipal(f"no user {arn}")
            return _user(backend, user)
        if service == "iam" and kind == "role":
            role = backend.get_role(name)
            if role.arn != arn:
                raise UnknownPrincipal(f"no role {arn}")
            return _role(backend, role, arn, None)
        if service == "iam" and kind == "group":
            group = backend.get_group(name)
            if group.arn != arn:
                raise UnknownPrincipal(f"no group {arn}")
            return Principal(arn, account, "group", group.id, tuple(_group_policies(group)), name=group.name,
                             principal_arn=arn)
    except _not_found() as exc:
        raise UnknownPrincipal(str(exc)) from None
    raise UnknownPrincipal(f"not a user, role, group or assumed-role ARN: {arn}")


@dataclass(frozen=True)
class Credentials:
    """The secret behind one access key, and who it belongs to."""

    access_key: str
    secret_key: str
    session_token: str | None
    principal: Principal


def by_access_key(access_key: str, session_token: str | None, now: datetime | None = None) -> Credentials:
    """The active credentials of `access_key`; InvalidCredentials otherwise.

    A temporary key needs its own session token and must not have expired; a user's
    key must be active and presented without a token.
    """
    from moto.iam.models import get_account_id_from
    from moto.sts.models import sts_backends

    account = get_account_id_from(access_key)
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        backend = _iam(account, partition)
        key = backend.access_keys.get(access_key)
        if key is None:
            continue
        if key.status != "Active":
            raise InvalidCredentials(f"access key {access_key} is inactive")
        role_arn = getattr(key, "role_arn", None)
        if not role_arn:
            if session_token:
                raise InvalidCredentials("a session token was sent with a long-term access key")
            try:
                user = backend.get_user(key.user_name)
            except _not_found():
                raise InvalidCredentials(f"the user of access key {access_key} does not exist") from None
            return Credentials(access_key, key.secret_access_key, None, _user(backend, user))
        session = next((s for s in sts_backends[account][partition].assumed_roles
                        if s.access_key_id == access_key), None)
        if session is None or session_token != session.session_token:
            raise InvalidCredentials("the security token included in the request is invalid")
        if session.expiration.replace(tzinfo=UTC) <= (now or datetime.now(UTC)):
            raise InvalidCredentials("the security token included in the request is expired")
        try:
            role = backend.get_role_by_arn(role_arn)
        except _not_found():
            raise InvalidCredentials(f"the role {role_arn} of these credentials does not exist") from None
        principal = _role(backend, role, session.arn, session.session_name)
        return Credentials(access_key, session.secret_access_key, session.session_token, principal)
    raise InvalidCredentials("the security token included in the request is invalid")


def _iam(account: str, partition: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account][partition]


def _not_found() -> type[Exception]:
    from moto.iam.exceptions import NotFoundException

    return NotFoundException


def _user(backend: Any, user: Any) -> Principal:
    policies = [_inline(name, doc, "user") for name, doc in user.policies.items()]
    policies += [_managed(p) for p in user.managed_policies.values()]
    for group in backend.get_groups_for_user(user.name):
        policies += _group_policies(group)
    tags = {t["Key"]: t["Value"] for t in backend.list_user_tags(user.name)}
    return Principal(user.arn, user.account_id, "user", user.id, tuple(policies), None, tags, user.name, user.arn)


def _role(backend: Any, role: Any, arn: str, session: str | None) -> Principal:
    policies = [_inline(name, doc, "role") for name, doc in role.policies.items()]
    policies += [_managed(p) for p in role.managed_policies.values()]
    boundary = None
    if role.permissions_boundary_arn:
        try:
            boundary = _managed(backend.get_policy(role.permissions_boundary_arn))
        except _not_found():
            boundary = Policy(role.permissions_boundary_arn, "none", {"Statement": []})  # bounds to nothing
    tags = {t["Key"]: t["Value"] for t in role.tags or ()}
    kind, user_id = ("assumed-role", f"{role.id}:{session}") if session else ("role", role.id)
    return Principal(arn, role.account_id, kind, user_id, tuple(policies), boundary, tags, role.name, role.arn)


def _group_policies(group: Any) -> list[Policy]:
    inline = [_inline(name, doc, "group") for name, doc in group.policies.items()]
    return inline + [_managed(p) for p in group.managed_policies.values()]


def _inline(name: str, document: Any, kind: str) -> Policy:
    return Policy(name, kind, parse_document(document))


def _managed(policy: Any) -> Policy:
    version = next(v for v in policy.versions if v.is_default)
    kind = "aws-managed" if ":aws:policy/" in policy.arn else "user-managed"
    return Policy(policy.name, kind, parse_document(version.document))


def parse_document(document: Any) -> Mapping[str, Any]:
    """A policy document as moto keeps it (JSON text, sometimes URL-encoded, or already parsed)."""
    if isinstance(document, Mapping):
        return document
    text = str(document)
    try:
        parsed = json.loads(text)
    except ValueError:
        try:
            parsed = json.loads(unquote(text))
        except ValueError as exc:
            raise PolicyError(f"policy document is not JSON: {exc}") from None
    if not isinstance(parsed, Mapping):
        raise PolicyError("policy document must be a JSON object")
    return parsed
