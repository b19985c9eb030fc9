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

That young-generation collection walks every object the call allocated, most of them
built for the container's life: about 40 ms here for an event handler's 80,000.  So
what the first call builds for good before it reads the event (`settled`: the
pipeline, its clients, Powertools and their modules) is frozen as soon as it is
built, and the collection at the end walks only what the event's own work left.  The
price is that set-up's own garbage is frozen with it: 110 objects, about 70 KB,
measured for the pipeline (`bench/coldstart_first_call.py`).
Stdlib only, so importing it costs a handler's INIT nothing.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")


class _FirstCall:
    running = False  # a first call is running with the collector paused


def settled() -> None:
    """Called once what a container keeps for good is built: during a first call, freeze it now.

    Elsewhere (a warm call, a test, a process that never paused the collector) nothing happens."""
    if _FirstCall.running:
        gc.freeze()


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
        _FirstCall.running = True
        try:
            return handler(event, context)
        finally:
            _FirstCall.running = False
            gc.collect(0)  # this call's objects since `settled`: all still young, since nothing was promoted
            gc.freeze()
            if was_enabled:
                gc.enable()

    return invoke
