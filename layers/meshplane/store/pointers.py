"""The per-proxy pointer `PROXY#<nodePath>` / `POINTER`: the last published snapshot of one Envoy.

Why a sequence number: two recomputes of the same proxy can race, and the one that
loaded older mesh state must not overwrite the newer result.  Every publish is
conditional on the `seq` it read; the loser gets `PointerConflict`, reloads and
recomputes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

POINTER_SK = "POINTER"


def partition(node_path: str) -> str:
    return f"PROXY#{node_path}"


class PointerConflict(Exception):
    """Another publisher moved the pointer since it was read."""


@dataclass(frozen=True)
class Pointer:
    node_id: str
    version: str
    key: str
    versions: Mapping[str, str] = field(default_factory=dict)
    seq: int = 0
    certificates: Mapping[str, str] = field(default_factory=dict)  # ACM ARN -> stamp of the exported copy
    previous_key: str = ""  # the last snapshot with other clusters (`publish.previous_key_after`)


class PointerStore:
    """Reads and conditionally advances proxy pointers; the boto3 DynamoDB client is injected."""

    def __init__(self, table: str, client: Any, *, clock: Any = time.time) -> None:
        self._table = table
        self._client = client
        self._clock = clock

    def get(self, node_path: str) -> Pointer | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": partition(node_path)}, "sk": {"S": POINTER_SK}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return Pointer(
            node_id=node_path,
            version=item["version"]["S"],
            key=item["key"]["S"],
            versions={k: v["S"] for k, v in item.get("versions", {}).get("M", {}).items()},
            seq=int(item["seq"]["N"]),
            certificates={k: v["S"] for k, v in item.get("certificates", {}).get("M", {}).items()},
            previous_key=item.get("previousKey", {}).get("S", ""),
        )

    def advance(self, previous: Pointer | None, node_path: str, version: str, key: str,
                versions: Mapping[str, str], certificates: Mapping[str, str] | None = None,
                previous_key: str = "") -> Pointer:
        """Write the new pointer only if nobody else did since `previous` was read.

        `certificates` are the stamps of the ACM certificates the snapshot carries, so the
        next rebuild knows whether ACM renewed one since it was exported.
        """
        certificates = dict(certificates or {})
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
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": partition(node_path)},
                    "sk": {"S": POINTER_SK},
                    "version": {"S": version},
                    "key": {"S": key},
                    "versions": {"M": {k: {"S": v} for k, v in versions.items()}},
                    "seq": {"N": str(seq)},
                    "publishedAt": {"N": str(int(self._clock()))},
                    **({"certificates": {"M": {k: {"S": v} for k, v in certificates.items()}}} if certificates else {}),
                    **({"previousKey": {"S": previous_key}} if previous_key else {}),
                },
                **condition,
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            raise PointerConflict(node_path) from exc
        return Pointer(node_path, version, key, dict(versions), seq, certificates, previous_key)
