"""Lambda entry point of the App Mesh API (API Gateway REST proxy events)."""

from __future__ import annotations

from typing import Any

from meshplane.api.app import lambda_api


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return lambda_api().handle(event)
