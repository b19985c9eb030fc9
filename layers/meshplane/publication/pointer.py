"""The pointer: which snapshot of one proxy is current, as the table item and the bucket object hold it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field

from meshplane.snapshot.types import SEND_ORDER, XdsType


@dataclass(frozen=True)
class Pointer:
    """The current snapshot of one proxy.

    `etag` is set when read from the bucket (for the next If-None-Match), `seq`,
    `certificates` and `published_at` when read from the table (for the next conditional
    advance, the ACM renewal check and a rollout's caller check); each is empty where it
    was not read from.
    """

    version: str
    key: str
    _: KW_ONLY
    versions: Mapping[str, str] = field(default_factory=dict)  # xDS type -> version
    previous_key: str = ""  # the last snapshot with other clusters: what a reconnecting Envoy may still hold
    etag: str = ""
    seq: int = 0
    certificates: Mapping[str, str] = field(default_factory=dict)  # ACM ARN -> stamp of the exported copy
    published_at: float = field(default=0.0, compare=False)  # epoch seconds, whole: when the table's item was written


def previous_key_after(previous: Pointer | None, versions: Mapping[str, str]) -> str:
    """The snapshot whose clusters a reconnecting Envoy may still hold once `versions` is published:
    the last one with other clusters.  The ADS server reads it back to remove them make-before-break."""
    if previous is None:
        return ""
    if previous.versions.get(XdsType.CLUSTERS.value) != versions.get(XdsType.CLUSTERS.value):
        return previous.key
    return previous.previous_key


def changed_types(previous: Pointer | None, versions: Mapping[str, str]) -> tuple[str, ...]:
    """The xDS types whose version differs from `previous`, in send order (all of them for a first publish)."""
    if previous is None:
        return tuple(kind.value for kind in SEND_ORDER)
    return tuple(kind.value for kind in SEND_ORDER if previous.versions.get(kind.value) != versions[kind.value])


def pointer_document(pointer: Pointer) -> bytes:
    """The bucket's pointer object: `{"version", "key", "versions", "previous": {"key"}}` (`previous` only if set)."""
    previous = {"previous": {"key": pointer.previous_key}} if pointer.previous_key else {}
    return json.dumps({"version": pointer.version, "key": pointer.key, "versions": dict(pointer.versions),
                       **previous}).encode()  # fmt: skip


def pointer_from_document(body: bytes, etag: str = "") -> Pointer:
    """Parse a pointer object; raises ValueError, KeyError or TypeError when it is not one."""
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise TypeError(f"a pointer object is a JSON object, not {type(doc).__name__}")
    previous = doc.get("previous") or {}
    return Pointer(doc["version"], doc["key"], versions=doc.get("versions") or {}, previous_key=previous.get("key", ""),
                   etag=etag)  # fmt: skip
