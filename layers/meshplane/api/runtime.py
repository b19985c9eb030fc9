"""The API's Lambda entry point, kept light: the Api, boto3 and the generated shapes load on first invocation.

Its DynamoDB client comes from the pipeline's session (`wiring.aws_session`), which loads the
DynamoDB model without listing every service botocore knows.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from meshplane.pipeline.coldstart import first_call_without_gc

if TYPE_CHECKING:
    from meshplane.api.app import Api


@lru_cache(maxsize=1)
def lambda_api(owner: tuple[str, str] | None = None) -> Api:
    """The Api of this Lambda environment with Powertools telemetry, built on the first invocation.

    `owner` is the (partition, account) of the invoked function's ARN, the same on every invocation
    of a container; None falls back to the environment the stack sets.
    """
    from meshplane.api.app import Api
    from meshplane.config import Settings
    from meshplane.pipeline.telemetry import Telemetry
    from meshplane.pipeline.wiring import aws_session

    settings = Settings.from_env(owner=owner)
    dynamodb = aws_session(settings.region).client("dynamodb")
    return Api.build(settings, dynamodb, settings.limits, Telemetry.from_env())


@first_call_without_gc
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from meshplane.config import function_owner

    return lambda_api(function_owner(context)).handle(event, context)
