"""Discovered endpoints in DynamoDB: partition `EP#<mesh>#<virtualNode>`, one item per instance.

Why conditional writes: ECS and EventBridge deliver events duplicated, reordered
and concurrently.  Every ECS write carries an `order` (the task's `detail.version`
then `updatedAt`, zero-padded so strings sort like the pair) and only lands if it
is newer than what the item holds.  A stopped task leaves a tombstone (kept until
the TTL `expiresAt`) so that a late RUNNING event can never resurrect it.

Cloud Map endpoints are owned by discovery, which sees the whole instance set of a
service at once: `replace_cloudmap` writes that set and deletes what left it.

Item layout: `sk = I#<source>#<instanceId>`; the Cloud Map revision of a node's
service lives beside them at `sk = REV#cloudmap`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from meshplane.model.state import Endpoint

TOMBSTONE_TTL_SECONDS = 3 * 24 * 3600
ITEM_PREFIX = "I#"
REVISION_SK = "REV#cloudmap"


def partition(mesh: str, node: str) -> str:
    return f"EP#{mesh}#{node}"


def parse_partition(pk: str) -> tuple[str, str] | None:
    """`EP#<mesh>#<node>` -> (mesh, node); mesh names cannot contain '#'."""
    if not pk.startswith("EP#"):
        return None
    mesh, sep, node = pk[3:].partition("#")
    return (mesh, node) if sep and mesh and node else None


def ecs_order(version: int, updated_at: str) -> str:
    """A string that sorts like the pair (detail.version, updatedAt)."""
    return f"{version:012d}#{updated_at}"


class Outcome(StrEnum):
    APPLIED = "applied"
    STALE = "stale"  # a newer or identical event was already applied


@dataclass(frozen=True)
class Revision:
    revision: int
    fingerprint: str
    checked_at: float


@dataclass(frozen=True)
class EcsItem:
    """One stored ECS task of a node: its ordering key and endpoint (None for a tombstone)."""

    instance_id: str
    order: str
    endpoint: Endpoint | None


@dataclass(frozen=True)
class NodeRef:
    """A virtual node in a mesh: the unit endpoints are discovered for."""

    mesh: str
    node: str


class EndpointStore:
    """Reads and conditionally writes endpoint items; the boto3 DynamoDB client is injected."""

    def __init__(self, table: str, client: Any, *, clock: Any = time.time) -> None:
        self._table = table
        self._client = client
        self._clock = clock

    # ---- ECS: ordered, conditional -------------------------------------------------
    def apply_ecs(self, ref: NodeRef, endpoint: Endpoint | None, *, instance_id: str, order: str) -> Outcome:
        """Upsert (endpoint) or tombstone (None) one task, only if `order` is newer than the stored one."""
        item: dict[str, Any] = {
            "pk": {"S": partition(ref.mesh, ref.node)},
            "sk": {"S": f"{ITEM_PREFIX}ecs#{instance_id}"},
            "order": {"S": order},
            "present": {"BOOL": endpoint is not None},
        }
        if endpoint is None:
            item["expiresAt"] = {"N": str(int(self._clock()) + TOMBSTONE_TTL_SECONDS)}
        else:
            item["endpoint"] = {"S": endpoint.model_dump_json()}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #o < :o",
                ExpressionAttributeNames={"#o": "order"},
                ExpressionAttributeValues={":o": {"S": order}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return Outcome.STALE
        return Outcome.APPLIED

    # ---- Cloud Map: whole-set replacement ------------------------------------------
    def replace_cloudmap(self, ref: NodeRef, endpoints: Iterable[Endpoint]) -> bool:
        """Make the node's Cloud Map items equal `endpoints`; True if anything changed."""
        wanted = {e.instance_id: e for e in endpoints}
        current = {e.instance_id: e for e in self._query(ref, f"{ITEM_PREFIX}cloudmap#")}
        changed = False
        for instance_id, endpoint in wanted.items():
            if current.get(instance_id) == endpoint:
                continue
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": partition(ref.mesh, ref.node)},
                    "sk": {"S": f"{ITEM_PREFIX}cloudmap#{instance_id}"},
                    "present": {"BOOL": True},
                    "endpoint": {"S": endpoint.model_dump_json()},
                },
            )
            changed = True
        for instance_id in current.keys() - wanted.keys():
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": partition(ref.mesh, ref.node)}, "sk": {"S": f"{ITEM_PREFIX}cloudmap#{instance_id}"}},
            )
            changed = True
        return changed

    def cloudmap_revision(self, ref: NodeRef) -> Revision | None:
        """The InstancesRevision and filter fingerprint last discovered for the node, if any."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": partition(ref.mesh, ref.node)}, "sk": {"S": REVISION_SK}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return Revision(int(item["revision"]["N"]), item["fingerprint"]["S"], float(item["checkedAt"]["N"]))

    def remember_cloudmap_revision(self, ref: NodeRef, revision: int, fingerprint: str) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": partition(ref.mesh, ref.node)},
                "sk": {"S": REVISION_SK},
                "revision": {"N": str(revision)},
                "fingerprint": {"S": fingerprint},
                "checkedAt": {"N": str(int(self._clock()))},
            },
        )

    # ---- reads ---------------------------------------------------------------------
    def endpoints(self, ref: NodeRef) -> tuple[Endpoint, ...]:
        """The node's live endpoints, one per address and port (ECS wins over Cloud Map), sorted."""
        by_target: dict[tuple[str, int | None], Endpoint] = {}
        for endpoint in self._query(ref, ITEM_PREFIX):
            key = (endpoint.address, endpoint.port)
            if key not in by_target or endpoint.source == "ecs":
                by_target[key] = endpoint
        return tuple(sorted(by_target.values(), key=lambda e: (e.address, e.port or 0, e.instance_id)))

    def ecs_items(self, ref: NodeRef) -> list[EcsItem]:
        """Every ECS item of the node, tombstones included, with its order (the reconcile compares them)."""
        prefix = f"{ITEM_PREFIX}ecs#"
        return [
            EcsItem(item["sk"]["S"].removeprefix(prefix), item["order"]["S"],
                    Endpoint.model_validate(json.loads(item["endpoint"]["S"]))
                    if item.get("present", {}).get("BOOL") and "endpoint" in item else None)
            for item in self._items(ref, prefix)
        ]

    def endpoints_for(self, mesh: str, nodes: Iterable[str]) -> Mapping[str, tuple[Endpoint, ...]]:
        return {node: self.endpoints(NodeRef(mesh, node)) for node in nodes}

    def _query(self, ref: NodeRef, prefix: str) -> list[Endpoint]:
        return [Endpoint.model_validate(json.loads(item["endpoint"]["S"])) for item in self._items(ref, prefix)
                if item.get("present", {}).get("BOOL") and "endpoint" in item]

    def _items(self, ref: NodeRef, prefix: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": partition(ref.mesh, ref.node)}, ":p": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**kwargs)
            found += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
