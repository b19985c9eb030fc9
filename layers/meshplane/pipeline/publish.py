"""Publish one proxy's snapshot: validate it, then put it by the publication contract.

Validation comes first: a snapshot that fails it is never published (no pointer names
it), so the last good one stays current.  What follows is
`publication.bucket.SnapshotBucket.put`: the body, then the pointer (the table item's
conditional advance, `PointerConflict` when another publisher got there first, then the
bucket object), then `ConfigPublished`.  Old snapshots expire by the bucket's lifecycle
rule on the `snapshots/` prefix; pointers are overwritten in place.

While a slow validator runs (Envoy's, a process), the body is written at the same time,
on a thread: the two do not depend on each other, and the pointer still waits for both.
A body written for a snapshot the validators then reject is left unreferenced, as a raced
publish's is, and expires by the same rule.  The bodies this publisher wrote are kept in
memory (`publication.written`), so the next change of the same proxy reads its last
snapshot without a GET.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from meshplane.model.ids import ProxyId
from meshplane.pipeline.ports import Validator
from meshplane.pipeline.telemetry import Telemetry
from meshplane.publication.bucket import Body, SnapshotBucket
from meshplane.publication.event import ConfigPublished
from meshplane.publication.pointer import Pointer
from meshplane.publication.written import WrittenBodies
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.store.index import DependencyIndex
from meshplane.store.pointers import PointerStore
from meshplane.store.s3objects import S3Objects

BODY_THREADS = 4  # bodies written while validators run; shards publish from several threads


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
    """Validates snapshots and publishes the good ones; S3 and EventBridge clients are injected."""

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
        self._snapshots = SnapshotBucket(WrittenBodies(S3Objects(s3, bucket)))
        self._bus = bus
        self._events = events
        self._pointers = pointers
        self._index = index
        self._validators = tuple(validators)
        self._t = telemetry
        self._pool: ThreadPoolExecutor | None = None  # made on the first body written ahead, kept while warm
        self._pool_lock = threading.Lock()

    def previous_snapshot(self, pointer: Pointer | None) -> Snapshot | None:
        if pointer is None:
            return None
        with self._t.traced("s3.get_snapshot"):
            return self._snapshots.fetch(pointer)

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
        version = snapshot.version  # a hash over the types' versions: worked out once per publish
        if not problems and previous is not None and previous.version == version:  # validated before
            self._index.put(proxy.mesh, proxy.path, deps, endpoint_deps)
            return Result(proxy, Status.UNCHANGED, version)
        run = self._to_run(endpoints_only=_endpoints_only(previous, snapshot))
        ahead = self._write_ahead(proxy, snapshot) if not problems and any(map(slow, run)) else None
        problems = [*problems, *self._problems(snapshot, run)]
        written = _settled(ahead, keep=not problems)
        if problems:
            self._t.count("SnapshotsRejected")
            self._t.logger.error(
                "snapshot rejected; the last good one stays",
                extra={"nodeId": proxy.path, "problems": problems, "version": version},
            )
            return Result(proxy, Status.REJECTED, version, problems=tuple(problems))

        def advance(pointer: Pointer) -> Pointer:
            stored = self._pointers.advance(previous, proxy.path, pointer)
            self._index.put(proxy.mesh, proxy.path, deps, endpoint_deps)
            return stored

        with self._t.timed("PublishLatency", "publish"):
            published = self._snapshots.put(proxy, snapshot, previous, advance=advance, announce=self._announce,
                                            certificates=certificates, traced=self._t.traced,
                                            written=written)  # fmt: skip
        changed = published.event.changed_types
        self._t.bytes("SnapshotBytes", published.size)
        self._t.count("SnapshotsPublished")
        self._t.logger.info(
            "snapshot published",
            extra={"nodeId": proxy.path, "version": version, "key": published.pointer.key,
                   "changedTypes": list(changed)},
        )  # fmt: skip
        return Result(proxy, Status.PUBLISHED, version, changed)

    def _to_run(self, *, endpoints_only: bool) -> list[Validator]:
        """The validators this publish runs: those that skip EDS-only changes (Envoy) are left out for them."""
        from meshplane.pipeline.validate import needed_for_endpoints_only

        return [v for v in self._validators if not endpoints_only or needed_for_endpoints_only(v)]

    def _problems(self, snapshot: Snapshot, validators: Sequence[Validator]) -> list[str]:
        """Every validator's findings; one that breaks blocks the publish, not the batch."""
        problems: list[str] = []
        for validate in validators:
            try:
                problems.extend(validate(snapshot))
            except Exception as exc:  # a validator that breaks must block the publish, not the batch
                problems.append(f"validator {getattr(validate, '__name__', validate)!r} failed: {exc}")
        return problems

    def _write_ahead(self, proxy: ProxyId, snapshot: Snapshot) -> Future[Body]:
        """The snapshot's body written on a thread while the validators run (untraced: X-Ray's context
        is the calling thread's)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=BODY_THREADS, thread_name_prefix="publish-body")
            return self._pool.submit(self._snapshots.write_body, proxy, snapshot)

    def _announce(self, event: ConfigPublished) -> None:
        response = self._events.put_events(Entries=[event.entry(self._bus)])
        if response.get("FailedEntryCount"):
            # The pointer already moved, so delivery still converges on its next poll; say so loudly.
            self._t.count("ConfigPublishedFailed")
            self._t.logger.error(
                "ConfigPublished not accepted by the bus",
                extra={"nodeId": event.node_id, "entries": response.get("Entries")},
            )


def slow(validator: Validator) -> bool:
    """Whether a validator takes long enough (a process) that the body is written while it runs."""
    return bool(getattr(validator, "slow", False))


def _settled(ahead: Future[Body] | None, *, keep: bool) -> Body | None:
    """The body written ahead, once written (its failure raised, as `put`'s own write would raise it);
    None when none was, or the snapshot is rejected (`keep` false), whatever became of its write."""
    if ahead is None:
        return None
    if not keep:
        ahead.exception()  # waited for, so no write outlives the publish; a failure does not matter now
        return None
    return ahead.result()
