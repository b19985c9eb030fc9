"""The local stand-in for API Gateway: the API engineer's HTTP server, fronting the ApiFunction.

Requests become API Gateway proxy events (`meshplane.api.http`) and are invoked in the
ApiFunction's own worker, exactly as the deployed stack runs them. `/healthz` answers
readiness and `/local/functions` the runtime's invocation counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from meshplane.local.invoker import Invocation

HEALTH_PATH = "/healthz"
FUNCTIONS_PATH = "/local/functions"


def _json(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


class LocalGateway:
    """What `meshplane.api.http.make_server` answers with locally (an `api.http.Handles`, as `Api` is)."""

    def __init__(
        self,
        invoke: Callable[[dict[str, Any]], Invocation],
        ready: Callable[[], bool],
        stats: Callable[[], dict[str, Any]],
    ) -> None:
        self._invoke, self._ready, self._stats = invoke, ready, stats

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        path = event.get("path", "")
        if path == HEALTH_PATH:
            return _json(200, {"status": "ok"}) if self._ready() else _json(503, {"status": "starting"})
        if path == FUNCTIONS_PATH:
            return _json(200, self._stats())
        outcome = self._invoke(event)
        if not outcome.ok or not isinstance(outcome.result, dict) or "statusCode" not in outcome.result:
            # what API Gateway answers when the integration fails or returns a malformed response
            return _json(502, {"message": "Internal server error"})
        return outcome.result
