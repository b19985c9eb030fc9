"""Per-Envoy config status in the state table: one partition per proxy, `STATUS#<mesh>/<kind>/<name>`.

An item is what one Envoy (one ADS stream, or one file agent) last told its server:
the versions it acknowledged per xDS type, the snapshot version it fully applied, its
last rejection (Envoy's own message), when it was last seen and whether it is connected.
Several Envoys serve one virtual node, so the sort key is the instance (its ECS task,
bind address or peer).  A partition per proxy, not per mesh, because IAM can bound a
write by its partition key alone (`dynamodb:LeadingKeys`): a file agent's role, tagged
with its mesh and node, may then write its own proxy's items and no other's
(`bootstrap.iam_policy`).  The status read pages by node, so it queries each node of a
page's partition, a few at a time, consistently; no index is kept (an index would double
every status write to serve an occasional read).

Items expire (`expiresAt`, the table's TTL attribute): a connected Envoy's item is
rewritten at least every `HEARTBEAT_SECONDS` by its server, so one whose server died
stops counting as connected after `STALE_SECONDS`; either way, an Envoy no longer
connected is kept `DISCONNECTED_KEEP_SECONDS`, then expires. DynamoDB deletes expired items
late, so reads skip them themselves.

A disconnect is written only over the item of the same connection (a condition), so an
Envoy that already reconnected elsewhere is not marked gone by its old server.  A single
item is written with PutItem rather than a batch: a file agent has one Envoy, and its
role is granted PutItem alone.  An item whose `nodeId` names another proxy than its
partition (a role may choose its item's attributes, not their values) is not read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from random import random
from typing import Any

from meshplane.model.ids import ProxyId

PK_PREFIX = "STATUS#"
HEARTBEAT_SECONDS = 300.0  # a connected Envoy's item is rewritten at least this often
STALE_SECONDS = 3 * HEARTBEAT_SECONDS  # a "connected" item not rewritten for this long: its server is gone
DISCONNECTED_KEEP_SECONDS = 3600.0
BATCH_WRITE_LIMIT = 25  # items per BatchWriteItem, DynamoDB's maximum
MAX_BATCH_ATTEMPTS = 8
BACKOFF_CAP_SECONDS = 1.0
MAX_MESSAGE_CHARS = 4096  # of Envoy's error detail kept; the rest is cut, marked with "…"


READ_CONCURRENCY = 8  # partitions the status read queries at once
# Every attribute an item may carry: a file agent's role may write these and no other (`bootstrap.iam_policy`).
ATTRIBUTES = ("pk", "sk", "nodeId", "instance", "connection", "delivery", "connected", "connectedAt", "seen",
              "expiresAt", "acked", "peer", "applied", "nack")  # fmt: skip


def partition(proxy: ProxyId) -> str:
    """The partition of every Envoy item of one proxy."""
    return partition_of(proxy.mesh, proxy.kind.value, proxy.name)


def partition_of(mesh: str, kind: str, name: str) -> str:
    """`partition` from its parts: IAM policy variables stand in for them in `bootstrap.iam_policy`."""
    return f"{PK_PREFIX}{mesh}/{kind}/{name}"


@dataclass(frozen=True)
class Nack:
    """Envoy's last rejection: the type, the version it refused, its message, the resources its message names,
    and those the refused version added or changed against the one Envoy kept (where to look when it names none)."""

    type_url: str
    version: str
    message: str
    resource_names: tuple[str, ...] = ()
    at: float = 0.0
    changed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"typeUrl": self.type_url, "version": self.version, "resourceNames": list(self.resource_names),
                "changedResources": list(self.changed), "message": self.message, "at": self.at}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Nack:
        return cls(str(data["typeUrl"]), str(data.get("version") or ""), str(data.get("message") or ""),
                   tuple(str(n) for n in data.get("resourceNames") or ()), float(data.get("at") or 0.0),
                   tuple(str(n) for n in data.get("changedResources") or ()))  # fmt: skip


@dataclass(frozen=True)
class EnvoyStatus:
    """One Envoy's config status as its server knows it."""

    proxy: ProxyId
    node_id: str  # as the Envoy sent it (a path or an ARN)
    instance: str  # which Envoy of the node: stable across its reconnects where its node says so
    connection: str  # this stream (or agent run): a disconnect only ends its own connection's item
    delivery: str  # "ads" or "file"
    peer: str = ""
    connected: bool = True
    connected_at: float = 0.0
    seen: float = 0.0
    acked: Mapping[str, str] = field(default_factory=dict)  # xDS type (short name) -> published version held
    applied: str = ""  # the published snapshot version all of whose types this Envoy holds
    nack: Nack | None = None

    @cached_property
    def key(self) -> tuple[str, str]:
        return partition(self.proxy), self.instance

    def expires_at(self) -> float:
        """A disconnected Envoy is kept for a while; one whose server went silent, as long after it went stale."""
        return self.seen + (STALE_SECONDS if self.connected else 0.0) + DISCONNECTED_KEEP_SECONDS

    def live(self, now: float) -> bool:
        """Connected, and rewritten recently enough that its server is still there."""
        return self.connected and now - self.seen < STALE_SECONDS


def to_item(status: EnvoyStatus) -> dict[str, Any]:
    pk, sk = status.key
    item: dict[str, Any] = {
        "pk": {"S": pk}, "sk": {"S": sk}, "nodeId": {"S": status.node_id}, "instance": {"S": status.instance},
        "connection": {"S": status.connection}, "delivery": {"S": status.delivery},
        "connected": {"BOOL": status.connected}, "connectedAt": {"N": repr(status.connected_at)},
        "seen": {"N": repr(status.seen)}, "expiresAt": {"N": str(int(status.expires_at()))},
        "acked": {"M": {kind: {"S": version} for kind, version in status.acked.items()}},
    }  # fmt: skip
    if status.peer:
        item["peer"] = {"S": status.peer}
    if status.applied:
        item["applied"] = {"S": status.applied}
    if status.nack is not None:
        item["nack"] = {"S": json.dumps(status.nack.to_json(), separators=(",", ":"))}
    return item


def from_item(item: Mapping[str, Any]) -> EnvoyStatus:
    nack = item.get("nack", {}).get("S")
    return EnvoyStatus(
        proxy=ProxyId.parse(item["nodeId"]["S"]), node_id=item["nodeId"]["S"], instance=item["instance"]["S"],
        connection=item["connection"]["S"], delivery=item["delivery"]["S"], peer=item.get("peer", {}).get("S", ""),
        connected=bool(item["connected"]["BOOL"]), connected_at=float(item["connectedAt"]["N"]),
        seen=float(item["seen"]["N"]), acked={k: v["S"] for k, v in item.get("acked", {}).get("M", {}).items()},
        applied=item.get("applied", {}).get("S", ""), nack=Nack.from_json(json.loads(nack)) if nack else None,
    )  # fmt: skip


def readable(item: Mapping[str, Any], proxy: ProxyId) -> EnvoyStatus | None:
    """The item as a status when it is one of `proxy`'s; None for an item a writer shaped otherwise."""
    try:
        status = from_item(item)
    except (KeyError, ValueError, TypeError):
        return None
    return status if status.proxy == proxy else None


def clipped(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 1] + "…"


class ProxyStatusStore:
    """Writes and reads Envoy status items; the boto3 DynamoDB client is injected."""

    def __init__(self, table: str, client: Any, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self._table = table
        self._client = client
        self._clock = clock
        self._sleep = sleep

    def put(self, statuses: Sequence[EnvoyStatus]) -> int:
        """Write connected and newly seen Envoys' items, 25 per BatchWriteItem (one alone with PutItem); returns
        the calls made.

        DynamoDB may hand part of a batch back (`UnprocessedItems`) under throttling: those
        are sent again after a capped, fully jittered backoff; what is still left then raises."""
        if len(statuses) == 1:
            self._client.put_item(TableName=self._table, Item=to_item(statuses[0]))
            return 1
        calls = 0
        for start in range(0, len(statuses), BATCH_WRITE_LIMIT):
            chunk = [{"PutRequest": {"Item": to_item(s)}} for s in statuses[start : start + BATCH_WRITE_LIMIT]]
            pending: dict[str, Any] = {self._table: chunk}
            for attempt in range(MAX_BATCH_ATTEMPTS):
                if attempt:
                    self._sleep(random() * min(BACKOFF_CAP_SECONDS, 0.05 * 2.0 ** (attempt - 1)))
                calls += 1
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise RuntimeError(f"{len(pending[self._table])} status items unwritten after {calls} calls")
        return calls

    def disconnect(self, status: EnvoyStatus) -> bool:
        """Mark the Envoy's item disconnected if it is still this connection's; False when it is not."""
        try:
            self._client.put_item(
                TableName=self._table, Item=to_item(replace(status, connected=False)),
                ConditionExpression="attribute_not_exists(pk) OR #c = :c",
                ExpressionAttributeNames={"#c": "connection"},
                ExpressionAttributeValues={":c": {"S": status.connection}},
            )  # fmt: skip
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def envoys(self, proxies: Sequence[ProxyId]) -> Iterator[EnvoyStatus]:
        """The unexpired Envoys of `proxies`, proxy by proxy in the order given, each partition consistently read
        (`READ_CONCURRENCY` at a time)."""
        now = self._clock()
        with ThreadPoolExecutor(max_workers=max(1, min(READ_CONCURRENCY, len(proxies)))) as pool:
            for proxy, items in zip(proxies, pool.map(self._partition_items, proxies), strict=True):
                for item in items:
                    status = readable(item, proxy)
                    if status is not None and float(item.get("expiresAt", {}).get("N", "inf")) > now:
                        yield status

    def _partition_items(self, proxy: ProxyId) -> list[dict[str, Any]]:
        request = {"TableName": self._table, "ConsistentRead": True, "KeyConditionExpression": "pk = :pk",
                   "ExpressionAttributeValues": {":pk": {"S": partition(proxy)}}}  # fmt: skip
        return [item for page in self._client.get_paginator("query").paginate(**request) for item in page["Items"]]
