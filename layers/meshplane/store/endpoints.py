"""Discovered endpoints in DynamoDB: partition `EP#<mesh>#<virtualNode>`, one item per instance.

Why conditional writes: ECS and EventBridge deliver events duplicated, reordered
and concurrently.  Every ECS write carries its `EcsOrder` (the task's `detail.version`,
then `updatedAt`) and only lands if it is newer than what the item holds.  DynamoDB
compares the version as a number (attribute `version`, N), so no claimed version can
outrank a later one by its length; versions are bounded (`MAX_VERSION`) where events
enter.  Items written before the numeric attributes hold only the string `order`
(`legacy_key`): for those the string is compared, and every version above the old
12-digit range, the reconcile's final tombstone included, sorts above all of them.
A stopped task leaves a tombstone (kept until the TTL `expiresAt`) so that a late
RUNNING event can never resurrect it.

Cloud Map endpoints are owned by discovery, which sees the whole instance set of a
service at once: `replace_cloudmap` writes that set and deletes what left it.

Item layout: `sk = I#<source>#<instanceId>`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from meshplane.model.state import Endpoint
from meshplane.store.reads import query_items

TOMBSTONE_TTL_SECONDS = 3 * 24 * 3600
ITEM_PREFIX = "I#"


def partition(mesh: str, node: str) -> str:
    return f"EP#{mesh}#{node}"


def parse_partition(pk: str) -> tuple[str, str] | None:
    """`EP#<mesh>#<node>` -> (mesh, node); mesh names cannot contain '#'."""
    if not pk.startswith("EP#"):
        return None
    mesh, sep, node = pk[3:].partition("#")
    return (mesh, node) if sep and mesh and node else None


MAX_VERSION = 2**63 - 1  # ECS counts a task's versions from 1; anything near this is not a real version
MAX_UPDATED_AT = 64
_LEGACY_DIGITS = 12  # the zero-padding of the string `order` that items written before `version` carry


@dataclass(frozen=True, order=True)
class EcsOrder:
    """Where one state of a task stands among the others: `detail.version` first, then `updatedAt`."""

    version: int
    updated_at: str

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not isinstance(self.version, int) or not 0 <= self.version <= MAX_VERSION:
            raise ValueError(f"an ECS task version is an integer from 0 to {MAX_VERSION}, not {self.version!r:.40}")
        if not isinstance(self.updated_at, str) or not 0 < len(self.updated_at) <= MAX_UPDATED_AT:
            raise ValueError(f"updatedAt must have 1 to {MAX_UPDATED_AT} characters")

    @property
    def legacy_key(self) -> str:
        """The string form older items hold in `order`; a version beyond 12 digits sorts above all of them."""
        if self.version < 10**_LEGACY_DIGITS:
            return f"{self.version:0{_LEGACY_DIGITS}d}#{self.updated_at}"
        return f"~{self.version:019d}#{self.updated_at}"

    @classmethod
    def of_item(cls, item: Mapping[str, Any]) -> EcsOrder:
        """The order a stored item holds: its numeric attributes, else its legacy string."""
        if "version" in item:
            return cls(min(int(item["version"]["N"]), MAX_VERSION), item.get("updatedAt", {}).get("S", "0"))
        version, _, updated_at = item["order"]["S"].lstrip("~").partition("#")
        return cls(min(int(version), MAX_VERSION), updated_at[:MAX_UPDATED_AT] or "0")


# Newer than the stored item: numerically by version, then by updatedAt; an item that predates the
# numeric attributes is compared by its legacy string.
_NEWER = (
    "attribute_not_exists(pk) OR #v < :v OR (#v = :v AND #u < :u) OR (attribute_not_exists(#v) AND #o < :o)"
)


class Outcome(StrEnum):
    APPLIED = "applied"
    STALE = "stale"  # a newer or identical event was already applied


@dataclass(frozen=True)
class EcsItem:
    """One stored ECS task of a node: its ordering key and endpoint (None for a tombstone)."""

    instance_id: str
    order: EcsOrder
    endpoint: Endpoint | None


@dataclass(frozen=True)
class NodeRef:
    """A virtual node in a mesh: the unit endpoints are discovered for."""

    mesh: str
    node: str


class NodeEndpoints(Mapping[str, tuple[Endpoint, ...]]):
    """The endpoints of a mesh's nodes, each node's read (one Query) on its first lookup, then kept.

    Why lazily: a node's endpoints live in a partition of their own, so reading every node
    costs one request per node of the mesh, while a change usually translates a few
    proxies whose clusters name a few nodes.  Looking up every node (a full translation
    of every proxy) reads each once, as an eager read would.
    """

    def __init__(self, nodes: frozenset[str], read: Callable[[str], tuple[Endpoint, ...]]) -> None:
        self._nodes = nodes
        self._read = read
        self._known: dict[str, tuple[Endpoint, ...]] = {}

    def __getitem__(self, node: str) -> tuple[Endpoint, ...]:
        if node not in self._nodes:
            raise KeyError(node)
        found = self._known.get(node)
        if found is None:
            found = self._known[node] = self._read(node)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)


class EndpointStore:
    """Reads and conditionally writes endpoint items; the boto3 DynamoDB client is injected."""

    def __init__(self, table: str, client: Any, *, clock: Any = time.time) -> None:
        self._table = table
        self._client = client
        self._clock = clock

    # ---- ECS: ordered, conditional -------------------------------------------------
    def apply_ecs(self, ref: NodeRef, endpoint: Endpoint | None, *, instance_id: str, order: EcsOrder) -> Outcome:
        """Upsert (endpoint) or tombstone (None) one task, only if `order` is newer than the stored one."""
        version, updated_at = {"N": str(order.version)}, {"S": order.updated_at}
        item: dict[str, Any] = {
            "pk": {"S": partition(ref.mesh, ref.node)},
            "sk": {"S": f"{ITEM_PREFIX}ecs#{instance_id}"},
            "version": version,
            "updatedAt": updated_at,
            "order": {"S": order.legacy_key},  # still read by readers that predate `version`
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
                ConditionExpression=_NEWER,
                ExpressionAttributeNames={"#v": "version", "#u": "updatedAt", "#o": "order"},
                ExpressionAttributeValues={":v": version, ":u": updated_at, ":o": {"S": order.legacy_key}},
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
            EcsItem(item["sk"]["S"].removeprefix(prefix), EcsOrder.of_item(item),
                    Endpoint.model_validate(json.loads(item["endpoint"]["S"]))
                    if item.get("present", {}).get("BOOL") and "endpoint" in item else None)
            for item in self._items(ref, prefix)
        ]

    def endpoints_for(self, mesh: str, nodes: Iterable[str]) -> Mapping[str, tuple[Endpoint, ...]]:
        """The endpoints of `nodes`, each read when first looked up (see `NodeEndpoints`)."""
        return NodeEndpoints(frozenset(nodes), lambda node: self.endpoints(NodeRef(mesh, node)))

    def _query(self, ref: NodeRef, prefix: str) -> list[Endpoint]:
        return [Endpoint.model_validate(json.loads(item["endpoint"]["S"])) for item in self._items(ref, prefix)
                if item.get("present", {}).get("BOOL") and "endpoint" in item]

    def _items(self, ref: NodeRef, prefix: str) -> list[dict[str, Any]]:
        return list(query_items(
            self._client, TableName=self._table, KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": partition(ref.mesh, ref.node)}, ":p": {"S": prefix}},
            ConsistentRead=True,
        ))  # fmt: skip
