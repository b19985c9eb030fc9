"""Publish one proxy's snapshot: validate, store in S3, advance the pointers, announce it.

The order is what makes a failure safe.  Validation comes first: a snapshot that
fails it is never written, so the last good one stays current.  The S3 object is
content-addressed and written before the DynamoDB pointer moves, so a pointer
never names a missing object; the pointer write is conditional (`PointerConflict`
when another publisher got there first).  The S3 pointer object and the
`ConfigPublished` event follow.  Old snapshots expire by the bucket's lifecycle
rule on the `snapshots/` prefix; pointers are overwritten in place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from meshplane.model.ids import ProxyId
from meshplane.pipeline.ports import Validator
from meshplane.pipeline.telemetry import Telemetry
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import SEND_ORDER, XdsType
from meshplane.store.index import DependencyIndex
from meshplane.store.pointers import Pointer, PointerStore

SNAPSHOT_PREFIX = "snapshots/"
SNAPSHOT_SUFFIX = ".snap"  # `Snapshot.to_bytes`; readers take either form (`Snapshot.loads`)
POINTER_PREFIX = "pointers/"
EVENT_SOURCE = "meshplane.pipeline"
DETAIL_TYPE = "ConfigPublished"


def snapshot_key(proxy: ProxyId, version: str) -> str:
    return f"{SNAPSHOT_PREFIX}{proxy.mesh}/{proxy.kind.value}/{proxy.name}/{version}{SNAPSHOT_SUFFIX}"


def pointer_key(proxy: ProxyId) -> str:
    return f"{POINTER_PREFIX}{proxy.mesh}/{proxy.kind.value}/{proxy.name}.json"


def previous_key_after(previous: Pointer | None, versions: Mapping[str, str]) -> str:
    """The snapshot whose clusters a reconnecting Envoy may still hold once `versions` is published:
    the last one with other clusters.  The ADS server reads it back to remove them make-before-break."""
    if previous is None:
        return ""
    if previous.versions.get(XdsType.CLUSTERS.value) != versions.get(XdsType.CLUSTERS.value):
        return previous.key
    return previous.previous_key


def pointer_document(version: str, key: str, versions: Mapping[str, str], previous_key: str) -> bytes:
    """The S3 pointer object's body: the current snapshot and the previous one with other clusters."""
    previous = {"previous": {"key": previous_key}} if previous_key else {}
    return json.dumps({"version": version, "key": key, "versions": dict(versions), **previous}).encode()


def _endpoints_only(previous: Pointer | None, snapshot: Snapshot) -> bool:
    """True when `snapshot` differs from the published one in EDS alone."""
    if previous is None:
        return False
    return all(
        previous.versions.get(kind.value) == version
        for kind, version in snapshot.versions.items()
        if kind is not XdsType.ENDPOINTS
    )


class Status(StrEnum):
    PUBLISHED = "published"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Result:
    proxy: ProxyId
    status: Status
    version: str | None = None
    changed_types: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)


class Publisher:
    """Writes snapshots and pointers; S3 and EventBridge clients are injected."""

    def __init__(
        self,
        *,
        bucket: str,
        bus: str,
        s3: Any,
        events: Any,
        pointers: PointerStore,
        index: DependencyIndex,
        validators: Sequence[Validator],
        telemetry: Telemetry,
    ) -> None:
        self._bucket = bucket
        self._bus = bus
        self._s3 = s3
        self._events = events
        self._pointers = pointers
        self._index = index
        self._validators = tuple(validators)
        self._t = telemetry

    def previous_snapshot(self, pointer: Pointer | None) -> Snapshot | None:
        if pointer is None:
            return None
        with self._t.traced("s3.get_snapshot"):
            body = self._s3.get_object(Bucket=self._bucket, Key=pointer.key)["Body"].read()
        return Snapshot.loads(body)

    def publish(
        self,
        proxy: ProxyId,
        snapshot: Snapshot,
        previous: Pointer | None,
        deps: Iterable[str],
        endpoint_deps: Iterable[str],
        *,
        problems: Sequence[str] = (),
        certificates: Mapping[str, str] | None = None,
    ) -> Result:
        """Publish `snapshot` unless invalid or unchanged; raises PointerConflict if `previous` is stale.

        `problems` found while building it (an ACM refusal) reject it like a validator's;
        `certificates` (ACM ARN -> stamp) are stored with the pointer.
        """
        mesh = proxy.mesh
        if not problems and previous is not None and previous.version == snapshot.version:  # validated before
            self._index.put(mesh, proxy.path, deps, endpoint_deps)
            return Result(proxy, Status.UNCHANGED, snapshot.version)
        problems = [*problems, *self._problems(snapshot, endpoints_only=_endpoints_only(previous, snapshot))]
        if problems:
            self._t.count("SnapshotsRejected")
            self._t.logger.error(
                "snapshot rejected; the last good one stays",
                extra={"nodeId": proxy.path, "problems": problems, "version": snapshot.version},
            )
            return Result(proxy, Status.REJECTED, snapshot.version, problems=tuple(problems))
        with self._t.timed("PublishLatency", "publish"):
            key = snapshot_key(proxy, snapshot.version)
            body = snapshot.to_bytes()
            with self._t.traced("s3.put_snapshot"):
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/octet-stream")
            versions = {kind.value: v for kind, v in snapshot.versions.items()}
            before = previous_key_after(previous, versions)
            with self._t.traced("dynamodb.advance_pointer"):
                self._pointers.advance(previous, proxy.path, snapshot.version, key, versions, certificates, before)
                self._index.put(mesh, proxy.path, deps, endpoint_deps)
            with self._t.traced("s3.put_pointer"):
                self._s3.put_object(
                    Bucket=self._bucket,
                    Key=pointer_key(proxy),
                    ContentType="application/json",
                    Body=pointer_document(snapshot.version, key, versions, before),
                )
            changed = tuple(
                kind.value
                for kind in SEND_ORDER
                if previous is None or previous.versions.get(kind.value) != versions[kind.value]
            )
            self._announce(proxy, snapshot.version, key, versions, changed)
        self._t.bytes("SnapshotBytes", len(body))
        self._t.count("SnapshotsPublished")
        self._t.logger.info(
            "snapshot published",
            extra={"nodeId": proxy.path, "version": snapshot.version, "key": key, "changedTypes": list(changed)},
        )
        return Result(proxy, Status.PUBLISHED, snapshot.version, changed)

    def _problems(self, snapshot: Snapshot, *, endpoints_only: bool) -> list[str]:
        """Every validator's findings; those that skip EDS-only changes (Envoy) are left out for them."""
        from meshplane.pipeline.validate import needed_for_endpoints_only

        problems: list[str] = []
        for validate in self._validators:
            if endpoints_only and not needed_for_endpoints_only(validate):
                continue
            try:
                problems.extend(validate(snapshot))
            except Exception as exc:  # a validator that breaks must block the publish, not the batch
                problems.append(f"validator {getattr(validate, '__name__', validate)!r} failed: {exc}")
        return problems

    def _announce(
        self, proxy: ProxyId, version: str, key: str, versions: dict[str, str], changed: tuple[str, ...]
    ) -> None:
        detail = {
            "nodeId": proxy.path,
            "mesh": proxy.mesh,
            "version": version,
            "bucket": self._bucket,
            "key": key,
            "versions": versions,
            "changedTypes": list(changed),
        }
        response = self._events.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "EventBusName": self._bus,
                    "Detail": json.dumps(detail, sort_keys=True),
                }
            ]
        )
        if response.get("FailedEntryCount"):
            # The pointer already moved, so delivery still converges on its next poll; say so loudly.
            self._t.count("ConfigPublishedFailed")
            self._t.logger.error(
                "ConfigPublished not accepted by the bus",
                extra={"nodeId": proxy.path, "entries": response.get("Entries")},
            )
