"""Lambda entry point: `recompute` (see meshplane.pipeline.runtime for what it does and how it fails)."""

from __future__ import annotations

from typing import Any

from meshplane.pipeline.runtime import current


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return current().recompute(event, context)
