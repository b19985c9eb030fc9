"""The Lambda functions' settings, read from the environment by the entry points and passed down.

Nothing reads the environment at import time: handlers call `Settings.from_env()` once and
hand the result to the code that needs it; the variable names are `meshplane.envvars`.
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
from dataclasses import dataclass, field, replace
from typing import Any

from meshplane import envvars
from meshplane.model.ids import DEFAULT_PARTITION, PARTITION
from meshplane.store.limits import Limits

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
_ACCOUNT = re.compile(r"\d{12}")
API_AUTHZ_MODES = ("off", "iam")  # MESHPLANE_API_AUTHZ: "iam" authorizes every call as App Mesh's IAM did


@dataclass(frozen=True)
class Settings:
    table: str = "meshplane-state"
    bucket: str = "meshplane-snapshots"
    bus: str = "meshplane"
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT
    partition: str = DEFAULT_PARTITION
    api_authz: str = "off"
    aws_max_attempts: int = 5  # botocore's standard retry mode: attempts per AWS call, the first included
    reconcile_sweep_seconds: float = 3600.0  # the reconcile re-reads everything at least this often
    ecs_clusters: tuple[str, ...] = ()  # the reconcile's ECS clusters; none: those stored endpoints name
    provider_arn: str = ""  # the CloudFormation macro's custom resource provider
    limits: Limits = field(default_factory=Limits)  # quotas, each `MESHPLANE_LIMIT_<FIELD>`
    shard_queue_url: str = ""  # the shard queue; none: every change is recomputed in one invocation
    shard_threshold: int = 200  # a change with more proxies to rebuild than this is split into shards
    shard_size: int = 100  # proxies per shard, at most

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, owner: tuple[str, str] | None = None) -> Settings:
        """The environment's settings; `owner` (partition, account), from `function_owner`, takes precedence."""
        env = os.environ if env is None else env
        settings = cls(
            table=env.get(envvars.TABLE, cls.table),
            bucket=env.get(envvars.BUCKET, cls.bucket),
            bus=env.get(envvars.BUS, cls.bus),
            region=next((env[name] for name in envvars.REGION if env.get(name)), cls.region),
            account=env.get(envvars.ACCOUNT_ID) or cls.account,
            partition=env.get(envvars.PARTITION) or cls.partition,
            api_authz=_api_authz(env.get(envvars.API_AUTHZ) or cls.api_authz),
            aws_max_attempts=_number(env, envvars.AWS_MAX_ATTEMPTS, int, cls.aws_max_attempts),
            reconcile_sweep_seconds=_number(env, envvars.RECONCILE_SWEEP_SECONDS, float,
                                            cls.reconcile_sweep_seconds),
            ecs_clusters=tuple(part.strip() for part in env.get(envvars.ECS_CLUSTERS, "").split(",") if part.strip()),
            provider_arn=env.get(envvars.PROVIDER_ARN, cls.provider_arn),
            limits=Limits.from_env(env),
            shard_queue_url=env.get(envvars.SHARD_QUEUE_URL, cls.shard_queue_url),
            shard_threshold=_number(env, envvars.SHARD_THRESHOLD, int, cls.shard_threshold),
            shard_size=_number(env, envvars.SHARD_SIZE, int, cls.shard_size),
        )
        return settings if owner is None else replace(settings, partition=owner[0], account=owner[1])


def _api_authz(value: str) -> str:
    """A mode of API_AUTHZ_MODES; anything else stops the function rather than serving unchecked."""
    mode = value.strip().lower()
    if mode not in API_AUTHZ_MODES:
        raise ValueError(f"{envvars.API_AUTHZ} must be one of {', '.join(API_AUTHZ_MODES)}, got {value!r}")
    return mode


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float], default: float) -> Any:
    """A numeric variable, or `default` when unset or blank; a malformed one stops the function, named."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {text!r}") from None


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
