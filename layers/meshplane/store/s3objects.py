"""The snapshot bucket's S3 edge for `meshplane.publication`: object I/O with failures sorted.

A key that cannot exist reads as absent, like a missing one: a node id too long for a
key (KeyTooLongError) or for the request line (414, which S3's front end sends without
an XML body, so botocore names it by status).  Every other failure, a body that breaks
off while read or an answer that cannot be read included, is `SourceUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from meshplane.publication.bucket import SnapshotBucket, SourceUnavailable, StoredObject

T = TypeVar("T")
ABSENT = frozenset({"NoSuchKey", "404", "NotFound", "KeyTooLongError", "414", "InvalidURI"})
NOT_MODIFIED = frozenset({"304", "NotModified"})


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def guarded(what: str, call: Callable[[], T], *, absent: frozenset[str] = frozenset()) -> T | None:
    """`call()`, None when AWS answers one of the `absent` codes, `SourceUnavailable` for any other failure."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) in absent:
            return None
        raise SourceUnavailable(f"reading {what}: {error_code(exc) or type(exc).__name__}") from exc
    except (BotoCoreError, OSError, ValueError, KeyError, TypeError) as exc:  # the network, or an unreadable answer
        raise SourceUnavailable(f"reading {what}: {type(exc).__name__}") from exc


class S3Objects:
    """The objects of one bucket; the boto3 S3 client is injected."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    @property
    def name(self) -> str:
        return self._bucket

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def get(self, key: str, *, if_none_match: str = "") -> StoredObject | None:
        kwargs = {"IfNoneMatch": if_none_match} if if_none_match else {}

        def read() -> StoredObject:
            obj = self._s3.get_object(Bucket=self._bucket, Key=key, **kwargs)
            return StoredObject(obj["Body"].read(), obj.get("ETag", ""))

        return guarded(key, read, absent=ABSENT | NOT_MODIFIED)

    def listed(self, prefix: str) -> list[tuple[datetime, str]]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
        return [(obj["LastModified"], obj["Key"]) for page in pages for obj in page.get("Contents", [])]


def snapshot_bucket(s3: Any, bucket: str) -> SnapshotBucket:
    """The publication contract over the S3 bucket `bucket`."""
    return SnapshotBucket(S3Objects(s3, bucket))
