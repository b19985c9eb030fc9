"""The per-proxy pointer item `PROXY#<nodePath>` / `POINTER`: the last published snapshot of one Envoy.

Why a sequence number: two recomputes of the same proxy can race, and the one that
loaded older mesh state must not overwrite the newer result.  Every publish is
conditional on the `seq` it read; the loser gets `PointerConflict`, reloads and
recomputes.  This module is the only one that knows the item's layout; the ADS
server's table-backed source reads it through `PointerStore.get` too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from meshplane.publication.pointer import Pointer

POINTER_SK = "POINTER"


def partition(node_path: str) -> str:
    return f"PROXY#{node_path}"


class PointerConflict(Exception):
    """Another publisher moved the pointer since it was read."""


def _strings(attribute: Mapping[str, Any] | None) -> dict[str, str]:
    """A DynamoDB map of strings (`{"M": {k: {"S": v}}}`) as a dict."""
    return {k: v["S"] for k, v in (attribute or {}).get("M", {}).items()}


def _string_map(values: Mapping[str, str]) -> dict[str, Any]:
    return {"M": {k: {"S": v} for k, v in values.items()}}


def _pointer(item: Mapping[str, Any]) -> Pointer:
    """A pointer item as read (`get`, `get_many`)."""
    return Pointer(
        item["version"]["S"],
        item["key"]["S"],
        versions=_strings(item.get("versions")),
        seq=int(item["seq"]["N"]),
        certificates=_strings(item.get("certificates")),
        previous_key=item.get("previousKey", {}).get("S", ""),
        published_at=float(item.get("publishedAt", {}).get("N", "0")),
    )


class PointerStore:
    """Reads and conditionally advances proxy pointers; the boto3 DynamoDB client is injected."""

    def __init__(self, table: str, client: Any, *, clock: Any = time.time) -> None:
        self._table = table
        self._client = client
        self._clock = clock

    def get(self, node_path: str) -> Pointer | None:
        """The pointer from a strongly consistent read, or None when the proxy was never published."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": partition(node_path)}, "sk": {"S": POINTER_SK}},
            ConsistentRead=True,
        ).get("Item")
        return _pointer(item) if item else None

    def get_many(self, node_paths: Sequence[str]) -> dict[str, Pointer | None]:
        """The pointer of each of `node_paths` (None: never published), from strongly consistent BatchGetItem
        calls of 100: one call where `get` makes a hundred, with the same guarantee."""
        from meshplane.store.reads import batch_get

        keys = [{"pk": {"S": partition(path)}, "sk": {"S": POINTER_SK}} for path in node_paths]
        found = {item["pk"]["S"].removeprefix("PROXY#"): _pointer(item)
                 for item in batch_get(self._client, self._table, keys, consistent=True)}
        return {path: found.get(path) for path in node_paths}

    def versions(self, node_paths: Sequence[str]) -> dict[str, str]:
        """The published version of each of `node_paths` that has a pointer, in BatchGetItem calls of 100."""
        from meshplane.store.reads import batch_get

        keys = [{"pk": {"S": partition(path)}, "sk": {"S": POINTER_SK}} for path in node_paths]
        items = batch_get(self._client, self._table, keys)
        return {item["pk"]["S"].removeprefix("PROXY#"): item["version"]["S"] for item in items}

    def advance(self, previous: Pointer | None, node_path: str, pointer: Pointer) -> Pointer:
        """Write `pointer` only if nobody else did since `previous` was read; returns it with its new `seq`.

        Its `certificates` are the stamps of the ACM certificates the snapshot carries, so
        the next rebuild knows whether ACM renewed one since it was exported.
        """
        seq = (previous.seq if previous else 0) + 1
        condition: dict[str, Any]
        if previous is None:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "seq = :prev",
                "ExpressionAttributeValues": {":prev": {"N": str(previous.seq)}},
            }
        try:
            self._client.put_item(TableName=self._table, Item=self._item(node_path, pointer, seq), **condition)
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            raise PointerConflict(node_path) from exc
        return Pointer(pointer.version, pointer.key, versions=dict(pointer.versions), seq=seq,
                       certificates=dict(pointer.certificates), previous_key=pointer.previous_key)  # fmt: skip

    def _item(self, node_path: str, pointer: Pointer, seq: int) -> dict[str, Any]:
        return {
            "pk": {"S": partition(node_path)},
            "sk": {"S": POINTER_SK},
            "version": {"S": pointer.version},
            "key": {"S": pointer.key},
            "versions": _string_map(pointer.versions),
            "seq": {"N": str(seq)},
            "publishedAt": {"N": str(int(self._clock()))},
            **({"certificates": _string_map(pointer.certificates)} if pointer.certificates else {}),
            **({"previousKey": {"S": pointer.previous_key}} if pointer.previous_key else {}),
        }
