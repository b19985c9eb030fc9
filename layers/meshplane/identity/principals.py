"""From the ARN STS reports to the IAM principal whose policies decide.

A role session (`arn:<p>:sts::<a>:assumed-role/<role>/<session>`) is judged by its
role's policies. The session ARN drops the role's path, so the role ARN is read back
with `iam:GetRole` (cached): `SimulatePrincipalPolicy` needs the exact ARN, path
included. Users are taken as STS names them. The account root and federated users
cannot be simulated and are no proxy's identity: refused.
"""

from __future__ import annotations

import logging
from typing import Any

from meshplane.identity.errors import Forbidden, ServiceUnavailable
from meshplane.ttlcache import TtlCache

log = logging.getLogger(__name__)
ROLE_TTL_S = 300.0


class Principals:
    def __init__(self, iam: Any, ttl: float = ROLE_TTL_S, max_entries: int = 10_000) -> None:
        self._iam = iam
        self._roles: TtlCache[str, str] = TtlCache(ttl, max_entries)

    def principal(self, caller_arn: str) -> str:
        parts = caller_arn.split(":", 5)
        if len(parts) != 6:
            raise Forbidden(f"{caller_arn} is not an IAM principal")
        service, resource = parts[2], parts[5]
        if service == "iam" and resource.startswith("user/"):
            return caller_arn
        if service == "sts" and resource.startswith("assumed-role/") and resource.count("/") >= 2:
            return self._role_arn(resource.split("/")[1])
        raise Forbidden(f"{caller_arn} cannot be a proxy's identity: use an IAM role or user")

    def _role_arn(self, name: str) -> str:
        cached = self._roles.get(name)
        if cached is not None:
            return cached
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            arn = str(self._iam.get_role(RoleName=name)["Role"]["Arn"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
                raise Forbidden(f"role {name} does not exist") from None
            log.warning("iam:GetRole %s failed: %s", name, exc)
            raise ServiceUnavailable("IAM could not be asked about the role") from None
        except BotoCoreError as exc:
            log.warning("iam:GetRole %s failed: %s", name, exc)
            raise ServiceUnavailable("IAM could not be asked about the role") from None
        self._roles.put(name, arn)
        return arn
