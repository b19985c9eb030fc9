"""DynamoDB in the local emulator, atomic where meshplane relies on it.

moto serves requests on many threads, and its transactions are neither isolated nor
cleanly undone:
- two `TransactWriteItems` interleave between a condition check and the write it guards,
  so two creates of one name can both pass `attribute_not_exists`, and counters drift;
- a cancelled transaction puts back a deep copy of every table it touched, taken when it
  began: writes that other requests committed meanwhile are lost, the stream records of
  its own applied writes stay behind as phantoms, and every shard iterator keeps following
  the orphaned shard, so stream consumers stop seeing changes.

Installed in the emulator process (`motoserver`), every DynamoDB and DynamoDB Streams
request runs under one lock, so DynamoDB is serialisable and no read sees a transaction
half applied; and a cancelled transaction is undone in place: the items it wrote get their
before-images back and its stream records are dropped, so the table, its shard and every
iterator stay the same objects.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_LOCK = threading.RLock()
_INSTALLED = "_meshplane_serialised"
OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
MAX_ITEMS = 100

Reason = tuple[str | None, str | None, dict[str, Any] | None]  # (code, message, item) as moto reports them


def install() -> None:
    """Serialise DynamoDB and DynamoDB Streams requests and replace the transaction rollback."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        if not getattr(handler.call_action, _INSTALLED, False):
            handler.call_action = _serialised(handler.call_action)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _serialised(call_action: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(call_action)
    def locked(handler: Any) -> Any:
        with _LOCK:
            return call_action(handler)

    setattr(locked, _INSTALLED, True)
    return locked


@dataclass
class _Undo:
    """Before-images of the items a transaction wrote, and where each touched stream ended."""

    items: list[tuple[Any, Any, Any, Any]] = field(default_factory=list)  # (table, hash, range, item or None)
    stream_ends: dict[int, tuple[Any, int]] = field(default_factory=dict)  # id(table) -> (table, records)

    def remember(self, backend: Any, table_name: str, key: dict[str, Any], current: Any) -> None:
        table = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(table, key)
        self.items.append((table, hash_key, range_key, copy.deepcopy(current)))
        if table.stream_shard is not None and id(table) not in self.stream_ends:
            self.stream_ends[id(table)] = (table, len(table.stream_shard.items))

    def rollback(self) -> None:
        for table, hash_key, range_key, before in reversed(self.items):
            _restore(table, hash_key, range_key, before)
        for table, end in self.stream_ends.values():
            if table.stream_shard is not None:
                del table.stream_shard.items[end:]


def _restore(table: Any, hash_key: Any, range_key: Any, before: Any) -> None:
    """Put `before` (None: nothing) back at the key, without a stream record: it never changed."""
    if range_key is None:
        if before is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = before
        return
    bucket = table.items[hash_key]
    if before is None:
        bucket.pop(range_key, None)
        if not bucket:
            del table.items[hash_key]
    else:
        bucket[range_key] = before


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's `TransactWriteItems`, with every cancelled or failed transaction undone in place."""
    from moto.dynamodb.exceptions import (
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > MAX_ITEMS:
        raise TooManyTransactionsException()
    undo, targets = _Undo(), set[tuple[str, str]]()
    reasons: list[Reason] = []
    try:
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            reasons.append(_write(self, item, targets, undo))
    except BaseException:
        undo.rollback()
        raise
    if any(code is not None for code, _, _ in reasons):
        undo.rollback()
        raise TransactionCanceledException(reasons)


def _write(backend: Any, item: dict[str, Any], targets: set[tuple[str, str]], undo: _Undo) -> Reason:
    """Check and apply one entry; returns its cancellation reason, all None when it applied."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import ConditionalCheckFailed, MockValidationException, MultipleTransactionsException

    old_image: dict[str, Any] | None = None
    try:
        op_type, op = next(iter(item.items()))
        if op_type not in OPERATIONS:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        condition = op.get("ConditionExpression")
        key = _key(backend, table_name, op) if op_type == "Put" else op["Key"]
        target = (str(table_name), str(dict(sorted(key.items()))))
        if target in targets:
            raise MultipleTransactionsException()
        targets.add(target)

        current = backend.get_item(table_name, key)
        if condition is not None and not get_filter_expression(condition, names, values).expr(current):
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                old_image = current.to_json()["Attributes"]
            raise ConditionalCheckFailed(item=old_image)
        if op_type == "ConditionCheck":
            return None, None, None
        undo.remember(backend, table_name, key, current)
        expression = {"condition_expression": condition, "expression_attribute_names": names,
                      "expression_attribute_values": values}  # fmt: skip
        if op_type == "Put":
            backend.put_item(table_name, op["Item"], **expression)
        elif op_type == "Delete":
            backend.delete_item(table_name, key, **expression)
        else:
            backend.update_item(table_name, key, update_expression=op["UpdateExpression"], **expression)
        return None, None, None
    except (MultipleTransactionsException, MockValidationException):
        raise  # the whole request is invalid: no reasons, the caller undoes what applied
    except ConditionalCheckFailed as exc:
        return "ConditionalCheckFailed", str(exc.message), old_image
    except Exception as exc:
        return type(exc).__name__, str(exc), old_image


def _key(backend: Any, table_name: str, op: dict[str, Any]) -> dict[str, Any]:
    """The key attributes of a Put's item."""
    table = backend.get_table(table_name)
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key
