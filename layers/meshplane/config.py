"""Runtime settings, read from the environment by entry points and passed down.

Nothing reads the environment at import time: handlers and commands call
`Settings.from_env()` once and hand the result to the code that needs it.
The AWS endpoint itself is not a setting here: boto3 honours `AWS_ENDPOINT_URL`.

The account and partition end up in every ARN, `meshOwner` and `resourceOwner`.
On AWS they come from the Lambda context (the invoked function's ARN is the
account and partition the function really runs in) or, without one, from the
environment the stack sets (`MESHPLANE_ACCOUNT_ID` = `AWS::AccountId`,
`MESHPLANE_PARTITION` = `AWS::Partition`). Local runs keep the emulator's
default account.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from meshplane.model.ids import DEFAULT_PARTITION, PARTITION

DEFAULT_ACCOUNT = "123456789012"
_ACCOUNT = re.compile(r"\d{12}")
API_AUTHZ_MODES = ("off", "iam")  # MESHPLANE_API_AUTHZ: "iam" authorizes every call as App Mesh's IAM did


@dataclass(frozen=True)
class Settings:
    table: str = "meshplane-state"
    bucket: str = "meshplane-snapshots"
    bus: str = "meshplane"
    region: str = "us-east-1"
    account: str = DEFAULT_ACCOUNT
    partition: str = DEFAULT_PARTITION
    api_authz: str = "off"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, owner: tuple[str, str] | None = None) -> Settings:
        """The environment's settings; `owner` (partition, account), from `function_owner`, takes precedence."""
        env = os.environ if env is None else env
        settings = cls(
            table=env.get("MESHPLANE_TABLE", cls.table),
            bucket=env.get("MESHPLANE_BUCKET", cls.bucket),
            bus=env.get("MESHPLANE_BUS", cls.bus),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or cls.region,
            account=env.get("MESHPLANE_ACCOUNT_ID") or cls.account,
            partition=env.get("MESHPLANE_PARTITION") or cls.partition,
            api_authz=_api_authz(env.get("MESHPLANE_API_AUTHZ") or cls.api_authz),
        )
        return settings if owner is None else replace(settings, partition=owner[0], account=owner[1])


def _api_authz(value: str) -> str:
    """A mode of API_AUTHZ_MODES; anything else stops the function rather than serving unchecked."""
    mode = value.strip().lower()
    if mode not in API_AUTHZ_MODES:
        raise ValueError(f"MESHPLANE_API_AUTHZ must be one of {', '.join(API_AUTHZ_MODES)}, got {value!r}")
    return mode


def function_owner(context: Any) -> tuple[str, str] | None:
    """(partition, account) of a Lambda context's `invoked_function_arn`, or None without a well-formed one.

    `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`.
    """
    arn = getattr(context, "invoked_function_arn", None)
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    if (
        len(parts) < 7
        or parts[0] != "arn"
        or not PARTITION.fullmatch(parts[1])
        or parts[2] != "lambda"
        or not _ACCOUNT.fullmatch(parts[4])
        or parts[5] != "function"
    ):
        return None
    return parts[1], parts[4]
