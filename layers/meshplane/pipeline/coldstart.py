"""A Lambda container's first invocation runs with the cyclic garbage collector paused.

Why: the first invocation builds what the container then keeps for its whole life
(botocore service models and endpoint rules, boto3 clients, pydantic models,
Powertools, imported modules): about 100,000 objects tracked by the collector.
While they are allocated, a young-generation collection runs every 700 objects and
a full one every few tens of thousands, and each full collection walks the whole
heap again.  Measured in the bench (`bench/coldstart_first_call.py`), that was 250
to 530 ms of an ECS-event handler's first invocation.

So the first call runs with the collector off.  Afterwards one young-generation
collection walks only what that call allocated (nothing was promoted meanwhile) and
frees its garbage cycles: the X-Ray SDK alone drops a botocore session holding a
parsed `endpoints.json`, about 7 MB, that freezing would otherwise keep for good.
Then `gc.freeze()` moves everything alive to the permanent generation, which later
collections skip, so warm invocations stop re-walking the long-lived objects too.
Stdlib only, so importing it costs a handler's INIT nothing.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")


def first_call_without_gc(handler: Callable[[Any, Any], Result]) -> Callable[[Any, Any], Result]:
    """`handler` whose first call in this process runs with the collector paused, then freezes what it built."""
    first = True

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Result:
        nonlocal first
        if not first:
            return handler(event, context)
        first = False
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return handler(event, context)
        finally:
            gc.collect(0)  # only this call's objects: all still young, since nothing was promoted
            gc.freeze()
            if was_enabled:
                gc.enable()

    return invoke
