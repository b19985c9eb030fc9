"""Where published snapshots are read from: the S3 pointer object, then the snapshot body.

The pointer (`pointers/<mesh>/<kind>/<name>.json`) is the truth for "which version is
current"; ConfigPublished events only say "look again".  Reading the pointer instead of
trusting the event's key makes delivery immune to events arriving out of order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from meshplane.model.ids import ProxyId
from meshplane.snapshot.snapshot import Snapshot


@dataclass(frozen=True)
class Pointer:
    version: str
    key: str
    etag: str = ""
    previous_key: str = ""  # the last snapshot with other clusters: what a reconnecting Envoy may still hold


POINTER_PREFIX = "pointers/"


def pointer_key(proxy: ProxyId) -> str:
    return f"{POINTER_PREFIX}{proxy.mesh}/{proxy.kind.value}/{proxy.name}.json"


def proxy_of_pointer_key(key: str) -> ProxyId | None:
    """The inverse of `pointer_key`; None for anything else under the prefix."""
    if not key.startswith(POINTER_PREFIX) or not key.endswith(".json"):
        return None
    parts = key[len(POINTER_PREFIX) : -len(".json")].split("/")
    if len(parts) != 3:
        return None
    try:
        return ProxyId.parse(f"mesh/{parts[0]}/{parts[1]}/{parts[2]}")
    except ValueError:
        return None


class SnapshotSource(Protocol):
    def pointer(self, proxy: ProxyId) -> Pointer | None: ...

    def fetch(self, pointer: Pointer) -> Snapshot: ...


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


def _not_modified(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("304", "NotModified")


class S3Source:
    """Pointers and snapshots in the delivery bucket; the S3 client is injected."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def pointer(self, proxy: ProxyId, if_none_match: str = "") -> Pointer | None:
        """The current pointer, or None when none was published (or unchanged since `if_none_match`)."""
        kwargs = {"IfNoneMatch": if_none_match} if if_none_match else {}
        try:
            obj = self._s3.get_object(Bucket=self._bucket, Key=pointer_key(proxy), **kwargs)
        except ClientError as exc:
            if _missing(exc) or _not_modified(exc):
                return None
            raise
        doc = json.loads(obj["Body"].read())
        previous = doc.get("previous") or {}
        return Pointer(doc["version"], doc["key"], obj.get("ETag", ""), previous.get("key", ""))

    def fetch(self, pointer: Pointer) -> Snapshot:
        obj = self._s3.get_object(Bucket=self._bucket, Key=pointer.key)
        return Snapshot.loads(obj["Body"].read())

    def recent_proxies(self, limit: int) -> list[ProxyId]:
        """The `limit` proxies whose pointers changed last, oldest first: what a starting server preloads."""
        found: list[tuple[Any, str]] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=POINTER_PREFIX):
            found.extend((obj["LastModified"], obj["Key"]) for obj in page.get("Contents", []))
        found.sort()
        proxies = (proxy_of_pointer_key(key) for _, key in found[-limit:] if limit > 0)
        return [p for p in proxies if p is not None]


class DynamoDbPointers(S3Source):
    """Reads the pointer from the DynamoDB item (`PROXY#<nodePath>`, `POINTER`), bodies from S3.

    Used by the safety resync when a table is configured: one consistent read per
    cached proxy, which is cheaper than an S3 GET and never stale.
    """

    def __init__(self, s3: Any, bucket: str, dynamodb: Any, table: str) -> None:
        super().__init__(s3, bucket)
        self._ddb = dynamodb
        self._table = table

    def pointer(self, proxy: ProxyId, if_none_match: str = "") -> Pointer | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"PROXY#{proxy.path}"}, "sk": {"S": "POINTER"}},
            ConsistentRead=True,
        ).get("Item")
        if not item or "key" not in item or "version" not in item:
            return super().pointer(proxy, if_none_match)
        previous_key = item.get("previousKey", {}).get("S", "")
        return Pointer(version=item["version"]["S"], key=item["key"]["S"], previous_key=previous_key)
