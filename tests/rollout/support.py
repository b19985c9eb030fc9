"""Calls of the Rollout API as a client makes them, and a rollout spec to vary."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def call(endpoint: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """(status, JSON body); an error's body carries its `type` from `x-amzn-ErrorType`."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{endpoint}/meshplane/v1{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {"type": error.headers.get("x-amzn-ErrorType", ""), **json.loads(error.read())}


def rollout_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "route": {"virtualRouterName": "router", "routeName": "all"},
        "stable": {"virtualNode": "blue"},
        "canary": {"virtualNode": "green"},
        "steps": [10, 50],
        "stepIntervalSeconds": 2,
        "successCriteria": {"maxErrorRatePercent": 5, "minimumRequests": 20},
        "maxFailedChecks": 0,
    }
    spec.update(changes)
    return spec
