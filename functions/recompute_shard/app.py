"""Lambda entry point: `recompute_shard` (see meshplane.pipeline.shards for what it does and how it fails)."""

from __future__ import annotations

from typing import Any

from meshplane.pipeline.coldstart import first_call_without_gc
from meshplane.pipeline.runtime import current


@first_call_without_gc
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return current(context, sqs=True).recompute_shard(event, context)
