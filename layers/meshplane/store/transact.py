"""DynamoDB calls with App Mesh-shaped failures.

Every accepted change is one `TransactWriteItems` call, so the table stream
carries it whole.  Each write names the domain error its condition stands for;
when DynamoDB cancels the transaction, the first failed condition decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from meshplane.store.errors import Conflict, InternalServerError, MeshplaneError, TooManyRequests

THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "Throttling"}
)
SERVER_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure"})

@cache
def _serializer() -> Any:
    """boto3's TypeSerializer, imported on first use: `boto3.dynamodb` loads all of boto3 (~150 ms of cold start)."""
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


def attr(value: Any) -> dict[str, Any]:
    """A python value as a DynamoDB attribute value."""
    serialized: dict[str, Any] = _serializer().serialize(value)
    return serialized


def attrs(values: dict[str, Any]) -> dict[str, Any]:
    return {name: attr(value) for name, value in values.items()}


@dataclass(frozen=True)
class Write:
    """One entry of a transaction and the error to raise if its condition fails."""

    entry: dict[str, Any]
    on_fail: Callable[[], MeshplaneError] | None = None


@contextmanager
def dynamo_errors() -> Iterator[None]:
    """Map DynamoDB throttling and server faults to App Mesh errors; re-raise the rest."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in THROTTLING_CODES:
            raise TooManyRequests("request rate exceeded the state table's capacity; retry with backoff") from exc
        if code in SERVER_CODES:
            raise InternalServerError("the state table is unavailable; retry") from exc
        raise


def transact(client: Any, writes: list[Write]) -> None:
    """Apply `writes` atomically, or raise the error of the first condition that failed.

    A single write goes out as a plain conditional call: just as atomic, half the cost.
    """
    if len(writes) == 1:
        _single(client, writes[0])
        return
    try:
        with dynamo_errors():
            client.transact_write_items(TransactItems=[w.entry for w in writes])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        reasons = exc.response.get("CancellationReasons") or []
        for write, reason in zip(writes, reasons, strict=False):
            if reason.get("Code") == "ConditionalCheckFailed" and write.on_fail is not None:
                raise write.on_fail() from exc
        codes = {r.get("Code") for r in reasons}
        if codes & THROTTLING_CODES:
            raise TooManyRequests("request rate exceeded the state table's capacity; retry with backoff") from exc
        raise Conflict("a concurrent request changed the same resources; retry") from exc


_SINGLE_CALLS = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}


def _single(client: Any, write: Write) -> None:
    ((kind, request),) = write.entry.items()
    try:
        with dynamo_errors():
            getattr(client, _SINGLE_CALLS[kind])(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException" and write.on_fail:
            raise write.on_fail() from exc
        raise
