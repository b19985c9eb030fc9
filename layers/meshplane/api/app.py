"""The API handler: an API Gateway REST (v1 proxy) event in, a proxy response out.

The same `Api.handle` serves Lambda behind API Gateway and the local HTTP
server, so both behave identically.  Client mistakes are 4xx App Mesh errors;
anything unexpected is logged and returned as InternalServerErrorException.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from meshplane.api import responses
from meshplane.api.binding import bind
from meshplane.api.operations import Operations
from meshplane.api.routes import match
from meshplane.config import Settings
from meshplane.store.errors import BadRequest, InternalServerError, MeshplaneError
from meshplane.store.limits import Limits
from meshplane.store.resources import ResourceStore

HEALTH_PATH = "/healthz"
log = logging.getLogger(__name__)


class Api:
    """Routes, binds and runs App Mesh requests against one ResourceStore."""

    def __init__(self, store: ResourceStore) -> None:
        self.operations = Operations(store)

    @classmethod
    def build(cls, settings: Settings, client: Any, limits: Limits | None = None) -> Api:
        store = ResourceStore(
            settings.table, client, region=settings.region, account=settings.account, limits=limits or Limits()
        )
        return cls(store)

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        method = str(event.get("httpMethod") or "GET").upper()
        path = str(event.get("path") or "/")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return responses.plain(200, {"status": "ok"})
        try:
            op, labels = match(method, path)
            inp = bind(op, labels, _query(event), _body(event))
            return responses.success(self.operations.run(op, inp), op.output_payload)
        except MeshplaneError as exc:
            return responses.error(exc)
        except Exception:
            log.exception("unexpected failure serving %s %s", method, path)
            return responses.error(InternalServerError("internal error; the request may be retried"))


def _query(event: Mapping[str, Any]) -> dict[str, Sequence[str]]:
    multi = event.get("multiValueQueryStringParameters")
    if multi:
        return {k: list(v) for k, v in multi.items()}
    single = event.get("queryStringParameters") or {}
    return {k: [v] for k, v in single.items()}


def _body(event: Mapping[str, Any]) -> bytes | None:
    body = event.get("body")
    if body is None:
        return None
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("body: invalid base64 encoding") from None
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)


@lru_cache(maxsize=1)
def lambda_api() -> Api:
    """The Api of this Lambda environment, built on the first invocation (never at import)."""
    import boto3

    return Api.build(Settings.from_env(), boto3.client("dynamodb"), Limits.from_env())
