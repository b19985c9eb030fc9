"""Reading a node certificate's names back: App Mesh ARNs name nodes, IAM ARNs name principals."""

from __future__ import annotations

from collections.abc import Iterable


def _service(uri: str) -> str:
    parts = uri.split(":", 5)
    return parts[2] if len(parts) == 6 and parts[0] == "arn" else ""


def node_sans(uris: Iterable[str]) -> list[str]:
    return [u for u in uris if _service(u) == "appmesh"]


def principal_sans(uris: Iterable[str]) -> list[str]:
    return [u for u in uris if _service(u) == "iam"]
