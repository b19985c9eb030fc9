"""Lambda entry point: `rollout`, the scheduled canary controller (see meshplane.pipeline.rollout_runtime)."""

from __future__ import annotations

from meshplane.pipeline.rollout_runtime import handler

__all__ = ["handler"]
