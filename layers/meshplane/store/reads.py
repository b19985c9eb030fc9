"""Calls that span several DynamoDB requests: every page of a Query, BatchGetItem and BatchWriteItem to completion.

Query pages come from boto3's own paginator.  BatchGetItem has none: DynamoDB may
answer part of a batch and hand the rest back as `UnprocessedKeys` when the table is
throttled, so those are asked again after a capped, fully jittered exponential backoff
(AWS's advice for exactly this case), and a batch that still has keys left after
`MAX_BATCH_ATTEMPTS` calls raises TooManyRequests, like a throttled single read.
BatchWriteItem's `UnprocessedItems` are written again the same way.
Errors of the calls themselves reach the caller as botocore raised them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from random import random
from time import sleep
from typing import Any

from meshplane.store.errors import TooManyRequests

BATCH_GET_LIMIT = 100  # keys per BatchGetItem call, DynamoDB's maximum
BATCH_WRITE_LIMIT = 25  # items per BatchWriteItem call, DynamoDB's maximum
MAX_BATCH_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0


def query_items(client: Any, **request: Any) -> Iterator[dict[str, Any]]:
    """The raw items of every page of the Query `request`."""
    for page in client.get_paginator("query").paginate(**request):
        yield from page.get("Items", [])


def backoff_ceiling(retry: int) -> float:
    """The longest pause before the `retry`-th retry (from 0): doubling from the base, capped."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**retry)


def batch_get(
    client: Any, table: str, keys: Sequence[dict[str, Any]], *, consistent: bool = True
) -> list[dict[str, Any]]:
    """The raw items found for `keys` (in no particular order), in calls of up to 100 keys."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        chunk = list(keys[start : start + BATCH_GET_LIMIT])
        found += _batch_to_completion(client, table, {"Keys": chunk, "ConsistentRead": consistent})
    return found


def _batch_to_completion(client: Any, table: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pending: dict[str, Any] = {table: request}
    for attempt in range(MAX_BATCH_ATTEMPTS):
        if attempt:
            sleep(random() * backoff_ceiling(attempt - 1))  # full jitter
        response = client.batch_get_item(RequestItems=pending)
        found += response.get("Responses", {}).get(table, [])
        pending = response.get("UnprocessedKeys") or {}
        if not pending:
            return found
    left = len(pending.get(table, {}).get("Keys", []))
    raise TooManyRequests(f"{left} keys still unprocessed after {MAX_BATCH_ATTEMPTS} reads; retry with backoff")


def batch_write(client: Any, table: str, requests: Sequence[dict[str, Any]]) -> None:
    """`PutRequest`/`DeleteRequest` entries written in calls of up to 25, each to completion."""
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        _write_to_completion(client, table, list(requests[start : start + BATCH_WRITE_LIMIT]))


def _write_to_completion(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: requests}
    for attempt in range(MAX_BATCH_ATTEMPTS):
        if attempt:
            sleep(random() * backoff_ceiling(attempt - 1))  # full jitter, as for BatchGetItem
        pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return
    raise TooManyRequests(f"{len(pending.get(table, []))} items still unprocessed after {MAX_BATCH_ATTEMPTS} "
                          "writes; retry with backoff")
