"""The API's Lambda entry point, kept light: the Api, boto3 and the generated shapes load on first invocation."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from meshplane.pipeline.coldstart import first_call_without_gc

if TYPE_CHECKING:
    from meshplane.api.app import Api


@lru_cache(maxsize=1)
def lambda_api() -> Api:
    """The Api of this Lambda environment with Powertools telemetry, built on the first invocation."""
    import boto3

    from meshplane.api.app import Api
    from meshplane.config import Settings
    from meshplane.pipeline.telemetry import Telemetry
    from meshplane.store.limits import Limits

    return Api.build(Settings.from_env(), boto3.client("dynamodb"), Limits.from_env(), Telemetry.from_env())


@first_call_without_gc
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return lambda_api().handle(event, context)
