"""Lambda entry point of the App Mesh API (API Gateway REST proxy events); see meshplane.api.runtime."""

from __future__ import annotations

from meshplane.api.runtime import handler

__all__ = ["handler"]
