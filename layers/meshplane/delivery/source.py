"""Where published snapshots are read from: the S3 pointer object, then the snapshot body.

The pointer (`pointers/<mesh>/<kind>/<name>.json`) is the truth for "which version is
current"; ConfigPublished events only say "look again".  Reading the pointer instead of
trusting the event's key makes delivery immune to events arriving out of order.

Failures are sorted into two kinds, so that a caller can answer an Envoy properly.  A
key that cannot exist (missing, too long for S3, a request URI S3 refuses) is no
pointer: nothing was published.  Anything else (throttling, 5xx, access denied, the
network, an unreadable pointer or snapshot) is `SourceUnavailable`: the store could not
be read now, and the same request may succeed later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

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


class SourceUnavailable(Exception):
    """The store could not be read now (throttled, down, denied, unreadable): worth retrying later."""


T = TypeVar("T")
# S3 answers these for a key that is not there or cannot be: a node id too long for a key (KeyTooLongError),
# or for the request line (414, which S3's front end sends without an XML body, so botocore names it by status).
_ABSENT = frozenset({"NoSuchKey", "404", "NotFound", "KeyTooLongError", "414", "InvalidURI"})
_NOT_MODIFIED = frozenset({"304", "NotModified"})
# DynamoDB's answer to a key over its size limit: no item can have it.
_INVALID_KEY = frozenset({"ValidationException"})


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _read(what: str, call: Callable[[], T], *, absent: frozenset[str] = frozenset()) -> T | None:
    """`call()`, None when it answers one of the `absent` codes, `SourceUnavailable` for any other failure."""
    try:
        return call()
    except ClientError as exc:
        if _code(exc) in absent:
            return None
        raise SourceUnavailable(f"reading {what}: {_code(exc) or type(exc).__name__}") from exc
    except (BotoCoreError, OSError, ValueError, KeyError, TypeError) as exc:  # network, or an unreadable body
        raise SourceUnavailable(f"reading {what}: {type(exc).__name__}") from exc


class S3Source:
    """Pointers and snapshots in the delivery bucket; the S3 client is injected."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def pointer(self, proxy: ProxyId, if_none_match: str = "") -> Pointer | None:
        """The current pointer, or None when none was published (or unchanged since `if_none_match`).

        Raises `SourceUnavailable` when the pointer could not be read.
        """
        kwargs = {"IfNoneMatch": if_none_match} if if_none_match else {}
        key = pointer_key(proxy)

        def read() -> Pointer:
            obj = self._s3.get_object(Bucket=self._bucket, Key=key, **kwargs)
            doc = json.loads(obj["Body"].read())
            previous = doc.get("previous") or {}
            return Pointer(doc["version"], doc["key"], obj.get("ETag", ""), previous.get("key", ""))

        return _read(f"pointer of {proxy.path}", read, absent=_ABSENT | _NOT_MODIFIED)

    def fetch(self, pointer: Pointer) -> Snapshot:
        """The snapshot a pointer names; raises `SourceUnavailable` if it cannot be read or parsed."""

        def read() -> Snapshot:
            return Snapshot.loads(self._s3.get_object(Bucket=self._bucket, Key=pointer.key)["Body"].read())

        snapshot = _read(f"snapshot {pointer.key}", read)
        assert snapshot is not None  # nothing counts as absent here: a pointer names what was written
        return snapshot

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
        found = _read(f"pointer item of {proxy.path}", lambda: self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"PROXY#{proxy.path}"}, "sk": {"S": "POINTER"}},
            ConsistentRead=True,
        ), absent=_INVALID_KEY)
        if found is None:
            return None
        item = found.get("Item")
        if not item or "key" not in item or "version" not in item:
            return super().pointer(proxy, if_none_match)
        previous_key = item.get("previousKey", {}).get("S", "")
        return Pointer(version=item["version"]["S"], key=item["key"]["S"], previous_key=previous_key)
