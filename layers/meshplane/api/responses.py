"""API Gateway proxy responses: rest-json bodies and App Mesh-shaped errors."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from meshplane.model import shapes
from meshplane.model.base import AppMeshModel
from meshplane.store.errors import MeshplaneError

JSON = "application/json"


def success(output: AppMeshModel, payload: str | None) -> dict[str, Any]:
    """Status 200 with the output shape (or its payload member) as rest-json; timestamps as epoch seconds."""
    body = _wire(output)
    if payload is not None:
        body = body.get(payload, {})
    return _response(200, body, {})


def error_type(exc: MeshplaneError) -> str:
    """The `x-amzn-ErrorType` of an error: a modelled exception name, so a small fixed set."""
    return f"{exc.code}Exception"


def error(exc: MeshplaneError) -> dict[str, Any]:
    """`{"message"}` plus `x-amzn-ErrorType`, which botocore maps to the modelled exception."""
    name = error_type(exc)
    shape = getattr(shapes, name, shapes.InternalServerErrorException)
    return _response(shape.http_status, {"message": exc.message}, {"x-amzn-ErrorType": name})


def plain(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return _response(status, body, {})


def _response(status: int, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON, **headers},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _wire(model: AppMeshModel) -> Any:
    return _epochs(model.model_dump(mode="python", by_alias=True, exclude_none=True))


def _epochs(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _epochs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_epochs(v) for v in value]
    return value
