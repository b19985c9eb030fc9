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
    text: str = ""  # a body that is not the apps' JSON, such as Envoy's own reply or why no answer came

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
    except (OSError, http.client.HTTPException) as error:
        return Answer(0, {}, {}, text=f"{type(error).__name__}: {error}")
    finally:
        connection.close()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    headers = {k.lower(): v for k, v in response.getheaders()}
    if isinstance(body, dict):
        return Answer(response.status, headers, body)
    return Answer(response.status, headers, {}, text=raw[:200].decode(errors="replace"))


def many(address: tuple[str, int], paths: list[str]) -> list[Answer]:
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(lambda path: get(address, path), paths))
