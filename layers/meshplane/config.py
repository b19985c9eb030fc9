"""Runtime settings, read from the environment by entry points and passed down.

Nothing reads the environment at import time: handlers and commands call
`Settings.from_env()` once and hand the result to the code that needs it.
The AWS endpoint itself is not a setting here: boto3 honours `AWS_ENDPOINT_URL`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Settings:
    table: str = "meshplane-state"
    bucket: str = "meshplane-snapshots"
    bus: str = "meshplane"
    region: str = "us-east-1"
    account: str = DEFAULT_ACCOUNT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            table=env.get("MESHPLANE_TABLE", cls.table),
            bucket=env.get("MESHPLANE_BUCKET", cls.bucket),
            bus=env.get("MESHPLANE_BUS", cls.bus),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or cls.region,
            account=env.get("MESHPLANE_ACCOUNT_ID", cls.account),
        )
