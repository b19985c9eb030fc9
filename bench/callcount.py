"""Count every AWS call a boto3 session makes, with what each one bills, from botocore's own events.

`CallCounter.attach(session)` registers two handlers on the session's event system (no
patching): `before-parameter-build` keeps the request's parameters in the request
context, and `after-call` records the call once its response is parsed.  Retries are
inside one `after-call`, so a call counts once, as AWS bills a request that succeeded
after a retry; the HTTP attempts are kept apart (`attempts`).

DynamoDB capacity is computed from item sizes by DynamoDB's published rules, because
the production code does not ask for `ReturnConsumedCapacity` and moto answers it with
fixed numbers whatever the size:
- an item's size is the UTF-8 length of every attribute name plus its value (strings by
  UTF-8 length, numbers by about one byte per two significant digits plus one, binary by
  length, booleans and nulls one byte, lists and maps 3 bytes plus one per element);
- a read costs one unit per 4 KB read (rounded up per item for GetItem and BatchGetItem,
  over the whole page for Query and Scan), half that when eventually consistent, and at
  least one (half) even when nothing is found;
- a write costs one unit per 1 KB of the item written (rounded up), at least one; a
  delete one unit (the deleted item is not in the request; the items deleted here are
  under 1 KB); transactions cost twice.
A write's size is that of the new item: the replaced item is not in the request, and the
items the pipeline rewrites keep their shape.  A read with a `ProjectionExpression` is billed
by the whole items DynamoDB read, not the attributes it returned, so the counter asks the
same read again without the projection on its own uncounted client (`sizer`) and sizes that.

For the AWS projection of each invocation's duration (`cost_bill.projected_seconds`) every
call is also kept with the thread that made it and the time it took here, and the time the
counter's own handlers spent (sizing, the unprojected reads) is kept apart so the caller can
take it out of what it measured.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

PARAMS_KEY = "bench.callcount.params"
STARTED_KEY = "bench.callcount.started"
PROJECTED_READS = {"GetItem", "Query", "Scan", "BatchGetItem"}

# S3 bills by request class: PUT/COPY/POST/LIST one price, GET/HEAD/SELECT another; DELETE is free.
S3_CLASS = {"PutObject": "PUT", "CopyObject": "PUT", "CompleteMultipartUpload": "PUT", "ListObjectsV2": "LIST",
            "ListObjects": "LIST", "GetObject": "GET", "HeadObject": "GET", "DeleteObject": "free",
            "DeleteObjects": "free"}
DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return 1 + math.ceil(len(digits) / 2)


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one low-level DynamoDB value (`{"S": ...}`, `{"M": {...}}`, ...)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of a low-level DynamoDB item, as DynamoDB counts it for capacity."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def _read_units(sizes: list[int], consistent: bool, *, per_item: bool) -> float:
    whole = (sum(max(1, math.ceil(s / 4096)) for s in sizes) or 1) if per_item else math.ceil(sum(sizes) / 4096)
    units = max(1, whole)
    return float(units) if consistent else units / 2


def _write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def dynamodb_units(operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> tuple[float, float]:
    """(read units, write units) of one DynamoDB call."""
    consistent = bool(params.get("ConsistentRead"))
    if operation == "GetItem":
        item = parsed.get("Item")
        return _read_units([item_size(item)] if item else [], consistent, per_item=True), 0.0
    if operation in ("Query", "Scan"):
        return _read_units([item_size(i) for i in parsed.get("Items", [])], consistent, per_item=False), 0.0
    if operation == "BatchGetItem":
        found = [item_size(i) for items in parsed.get("Responses", {}).values() for i in items]
        asked = sum(len(r.get("Keys", [])) for r in params.get("RequestItems", {}).values())
        sizes = found + [0] * max(0, asked - len(found))
        consistent = all(r.get("ConsistentRead") for r in params.get("RequestItems", {}).values())
        return _read_units(sizes, consistent, per_item=True), 0.0
    if operation == "TransactGetItems":
        sizes = [item_size(r.get("Item") or {}) for r in parsed.get("Responses", [])]
        return 2 * _read_units(sizes, True, per_item=True), 0.0
    if operation == "PutItem":
        return 0.0, _write_units(item_size(params["Item"]))
    if operation in ("UpdateItem", "DeleteItem"):
        return 0.0, 1.0
    if operation == "BatchWriteItem":
        units = 0.0
        for requests in params.get("RequestItems", {}).values():
            for request in requests:
                put = request.get("PutRequest")
                units += _write_units(item_size(put["Item"])) if put else 1.0
        return 0.0, units
    if operation == "TransactWriteItems":
        units = 0.0
        for entry in params.get("TransactItems", []):
            put = entry.get("Put")
            units += 2 * (_write_units(item_size(put["Item"])) if put else 1.0)
        return 0.0, units
    return 0.0, 0.0


@dataclass
class Tally:
    """What a set of calls bills, by service and operation."""

    calls: Counter[str] = field(default_factory=Counter)  # "service:Operation" -> calls
    attempts: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    s3: Counter[str] = field(default_factory=Counter)  # request class -> requests
    events_entries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    received_bytes: int = 0  # response bodies, as the function would receive them
    # thread name -> the calls it made, as (service, seconds it took here)
    threads: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    hook_seconds: float = 0.0  # wall time the counter's handlers took on the main thread (not the pipeline's)
    hook_cpu: float = 0.0  # CPU time the same

    def add(self, other: Tally) -> None:
        self.calls.update(other.calls)
        self.attempts += other.attempts
        self.read_units += other.read_units
        self.write_units += other.write_units
        self.s3.update(other.s3)
        self.events_entries += other.events_entries
        self.errors.update(other.errors)
        self.received_bytes += other.received_bytes
        for thread, calls in other.threads.items():
            self.threads.setdefault(thread, []).extend(calls)
        self.hook_seconds += other.hook_seconds
        self.hook_cpu += other.hook_cpu

    def service_calls(self, service: str) -> int:
        return sum(n for name, n in self.calls.items() if name.split(":", 1)[0] == service)

    def to_dict(self) -> dict[str, Any]:
        return {"calls": dict(sorted(self.calls.items())), "attempts": self.attempts,
                "dynamodb_read_units": self.read_units, "dynamodb_write_units": self.write_units,
                "s3": dict(sorted(self.s3.items())), "eventbridge_entries": self.events_entries,
                "errors": dict(sorted(self.errors.items())), "received_bytes": self.received_bytes}


class CallCounter:
    """Counts calls of every client made from the sessions it is attached to (thread-safe).

    `sizer` is an uncounted DynamoDB client that re-reads projected reads whole, to bill them
    as DynamoDB does; without one, a projected read is refused rather than undercounted.
    """

    def __init__(self, sizer: Any = None) -> None:
        self._lock = threading.Lock()
        self.tally = Tally()
        self._sizer = sizer

    def attach(self, session: Any) -> None:
        """Register on a boto3 (or botocore) session's event system; clients made from it are counted."""
        events = session.events if hasattr(session, "events") else session.get_component("event_emitter")
        events.register("before-parameter-build", self._keep_params)
        events.register("before-call", self._start)
        events.register("after-call", self._record)

    @contextmanager
    def counting(self) -> Iterator[Tally]:
        """The calls made inside the block, as their own tally (the running total keeps them too)."""
        with self._lock:
            before = self.tally
            self.tally = Tally()
        try:
            yield self.tally
        finally:
            with self._lock:
                before.add(self.tally)
                self.tally = before

    def _keep_params(self, params: Mapping[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
        if context is not None:
            context[PARAMS_KEY] = params

    @staticmethod
    def _start(context: dict[str, Any] | None = None, **_: Any) -> None:
        if context is not None:
            context[STARTED_KEY] = time.perf_counter()

    def _record(self, http_response: Any, parsed: Mapping[str, Any], model: Any,
                context: Mapping[str, Any] | None = None, **_: Any) -> None:
        hook_started, hook_cpu = time.perf_counter(), time.thread_time()
        service = model.service_model.endpoint_prefix
        operation = model.name
        took = hook_started - (context or {}).get(STARTED_KEY, hook_started)
        params = (context or {}).get(PARAMS_KEY, {})
        metadata = parsed.get("ResponseMetadata", {})
        error = parsed.get("Error", {}).get("Code")
        sized = parsed
        if service == "dynamodb" and operation in PROJECTED_READS and not error and _projected(params):
            sized = self._unprojected(operation, params)
        with self._lock:
            tally = self.tally
            tally.threads.setdefault(threading.current_thread().name, []).append((service, took))
            tally.received_bytes += _length(http_response)
            tally.calls[f"{service}:{operation}"] += 1
            tally.attempts += 1 + int(metadata.get("RetryAttempts", 0))
            if error:
                tally.errors[f"{service}:{operation}:{error}"] += 1
            if service == "dynamodb" and (operation in DYNAMODB_READS or operation in DYNAMODB_WRITES):
                reads, writes = dynamodb_units(operation, params, sized if not error else {})
                tally.read_units += reads
                tally.write_units += writes
            elif service == "s3":
                tally.s3[S3_CLASS.get(operation, "other")] += 1
            elif service == "events" and operation == "PutEvents":
                tally.events_entries += len(params.get("Entries", []))
            if threading.current_thread() is threading.main_thread():  # a worker's handler overlaps others
                tally.hook_seconds += time.perf_counter() - hook_started
            tally.hook_cpu += time.thread_time() - hook_cpu

    def _unprojected(self, operation: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """The same read without its projection, on the uncounted sizer: what DynamoDB read and bills."""
        if self._sizer is None:
            raise ValueError(f"a projected {operation} is billed by whole items: give CallCounter a sizer")
        whole = _without_projection(params)
        method = {"GetItem": "get_item", "Query": "query", "Scan": "scan", "BatchGetItem": "batch_get_item"}
        result: Mapping[str, Any] = getattr(self._sizer, method[operation])(**whole)
        return result


def _length(http_response: Any) -> int:
    """The response body's length from its header: reading `content` would drain a streamed body (GetObject)."""
    headers = getattr(http_response, "headers", None) or {}
    return int(headers.get("content-length") or headers.get("Content-Length") or 0)


def _projected(params: Mapping[str, Any]) -> bool:
    if "ProjectionExpression" in params or "AttributesToGet" in params:
        return True
    return any("ProjectionExpression" in r or "AttributesToGet" in r
               for r in params.get("RequestItems", {}).values())


def _without_projection(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with projections (and the attribute names only they used) left out."""
    def strip(request: Mapping[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in request.items() if k not in ("ProjectionExpression", "AttributesToGet")}
        names = kept.get("ExpressionAttributeNames")
        if names:
            used = " ".join(str(kept.get(k, "")) for k in ("KeyConditionExpression", "FilterExpression"))
            kept["ExpressionAttributeNames"] = {k: v for k, v in names.items() if k in used}
            if not kept["ExpressionAttributeNames"]:
                kept.pop("ExpressionAttributeNames")
        return kept

    if "RequestItems" in params:
        return {**params, "RequestItems": {t: strip(r) for t, r in params["RequestItems"].items()}}
    return strip(params)
