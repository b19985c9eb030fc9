"""Plain HTTP calls the demo's checks make, each answer parsed as the demo apps' JSON."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

CONCURRENCY = 4


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def color(self) -> str:
        return str(self.body.get("backend", {}).get("service", ""))


def get(address: tuple[str, int], path: str, headers: dict[str, str] | None = None) -> Answer:
    """One GET; status 0 when no answer came."""
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException):
        return Answer(0, {}, {})
    finally:
        connection.close()
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body if isinstance(body, dict)
                  else {})  # fmt: skip


def many(address: tuple[str, int], paths: list[str]) -> list[Answer]:
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(lambda path: get(address, path), paths))
