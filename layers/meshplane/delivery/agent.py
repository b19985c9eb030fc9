"""`meshplane agent`: file-mode delivery with no always-on server.

It short-polls the proxy's pointer object with If-None-Match (a 304 costs almost
nothing), and on a new version fetches the snapshot, binds it to the local address,
points its RDS/EDS/SDS references at files, and writes the files that changed,
referenced before referencing (SDS, EDS, CDS, RDS, LDS): Envoy rejects a path
source whose file does not exist yet.
Every file is written to a temp file and renamed into its own watched directory.

Make before break, as the ADS server does (`server.sequencing`), with no ACKs to go by:
the route and listener files follow the cluster files after a short pause (each file has
its own watcher, so Envoy may take the events in any order), and the clusters a version
drops stay in the CDS file, with their endpoint files, until a poll `drain_seconds` later.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryResponse
from google.protobuf.message import Message

from meshplane.delivery.defaults import AGENT_DRAIN_SECONDS
from meshplane.delivery.files import PER_RESOURCE, file_path, watched_dir
from meshplane.delivery.rewrite import to_files
from meshplane.delivery.status.agent import AgentReport
from meshplane.model.ids import ProxyId
from meshplane.publication.bucket import SnapshotBucket
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.registry import message_class
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.transform import bind_to
from meshplane.snapshot.types import XdsType

log = logging.getLogger(__name__)

FILE_ORDER: tuple[XdsType, ...] = (
    XdsType.SECRETS,
    XdsType.ENDPOINTS,
    XdsType.CLUSTERS,
    XdsType.ROUTES,
    XdsType.LISTENERS,
)


def _atomic_write(path: Path, data: bytes, tmp_dir: Path) -> bool:
    """Publish `data` at `path` by rename; False (and no event for Envoy) when it is already there."""
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # IN_MOVED_TO in the watched directory: Envoy reloads once
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _messages(kind: XdsType, data: bytes) -> dict[str, Message]:
    """The resources of a file this writer wrote, by name."""
    out: dict[str, Message] = {}
    for packed in DiscoveryResponse.FromString(data).resources:
        message = message_class(kind)()
        packed.Unpack(message)
        out[getattr(message, "name", "") or getattr(message, "cluster_name", "")] = message
    return out


def _response(kind: XdsType, version: str, messages: list[Message]) -> bytes:
    response = DiscoveryResponse(version_info=version, type_url=kind.type_url)
    for message in messages:
        response.resources.add().Pack(message, deterministic=True)
    serialized: bytes = response.SerializeToString(deterministic=True)
    return serialized


class FileWriter:
    """Writes snapshots under `root` in the layout of `delivery.files`.

    It compares with what is on disk rather than remembering, so a restarted agent
    rewrites nothing that did not change.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"

    def write(self, snapshot: Snapshot, *, pause_before_routes: float = 0.0) -> list[XdsType]:
        """Write what changed, referenced files first; returns the types that had a file written.

        `pause_before_routes`: when a secret, endpoint or cluster file changed, wait this long
        before the route and listener files, so Envoy has the clusters they name."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        written: list[XdsType] = []
        for kind in FILE_ORDER:
            if kind is XdsType.ROUTES and written and pause_before_routes > 0:
                time.sleep(pause_before_routes)
            if self._write_type(kind, snapshot):
                written.append(kind)
        return written

    def held_clusters(self, snapshot: Snapshot) -> tuple[Snapshot, set[str]]:
        """`snapshot` with the clusters on disk that it drops added back, and the endpoint files those
        warm from (for `prune` to keep): what Envoy holds until the routes that moved off them load."""
        cds = file_path(self.root, XdsType.CLUSTERS)
        if not cds.exists():
            return snapshot, set()
        wanted, loads = snapshot.of(XdsType.CLUSTERS), snapshot.of(XdsType.ENDPOINTS)
        clusters, kept_loads = dict(wanted), set()
        for name, cluster in _messages(XdsType.CLUSTERS, cds.read_bytes()).items():
            load_name = cluster.eds_cluster_config.service_name or name  # type: ignore[attr-defined]
            if name in wanted or load_name in loads:
                continue
            if file_path(self.root, XdsType.ENDPOINTS, load_name).exists():
                kept_loads.add(load_name)
            elif cluster.type == Cluster.EDS:  # type: ignore[attr-defined]
                continue  # its endpoints are gone: kept, it could only fail to warm
            clusters[name] = cluster
        if len(clusters) == len(wanted):
            return snapshot, set()
        resources = {kind: snapshot.of(kind) for kind in XdsType}
        return Snapshot.build(snapshot.node_id, {**resources, XdsType.CLUSTERS: clusters}), kept_loads

    def _write_type(self, kind: XdsType, snapshot: Snapshot) -> bool:
        version = snapshot.versions[kind]
        resources = snapshot.of(kind)
        if kind not in PER_RESOURCE:
            data = _response(kind, version, [resources[n] for n in sorted(resources)])
            return _atomic_write(file_path(self.root, kind), data, self._tmp)
        wrote = False
        for name, message in sorted(resources.items()):
            wrote |= _atomic_write(file_path(self.root, kind, name), _response(kind, version, [message]), self._tmp)
        return wrote

    def prune(self, snapshot: Snapshot, keep_endpoints: set[str] | frozenset[str] = frozenset()) -> None:
        """Remove per-resource files nothing refers to any more (after the referrers were rewritten)."""
        for kind in PER_RESOURCE:
            kept = [*snapshot.of(kind), *(keep_endpoints if kind is XdsType.ENDPOINTS else ())]
            keep = {watched_dir(self.root, kind, name) for name in kept}
            base = watched_dir(self.root, kind)
            for directory in base.iterdir() if base.exists() else ():
                if directory not in keep:
                    shutil.rmtree(directory, ignore_errors=True)


class Agent:
    """Polls one proxy's pointer and keeps its files current."""

    def __init__(self, source: SnapshotBucket, proxy: ProxyId, writer: FileWriter, bind_address: str | None = None,
                 *, drain_seconds: float = AGENT_DRAIN_SECONDS, pause_before_routes: float = 0.2,
                 status: AgentReport | None = None) -> None:  # fmt: skip
        """`status`: where each apply (or failure to apply) is recorded (`delivery.status`; None: not recorded)."""
        self._status = status
        self._source = source
        self._proxy = proxy
        self._writer = writer
        self._bind = bind_address
        self._etag = ""
        self._version = ""
        self._drain_seconds = drain_seconds
        self._pause = pause_before_routes
        self._draining: tuple[float, Snapshot] | None = None  # (when, the version without its dropped clusters)

    def sync_once(self) -> list[XdsType]:
        """One poll: returns the types written (empty when nothing changed)."""
        drained = self._drain_if_due()
        pointer = self._source.pointer(self._proxy, if_none_match=self._etag)
        if pointer is None or pointer.version == self._version:
            return drained
        try:
            written = self._apply(pointer)
        except Exception as exc:
            if self._status is not None:
                self._status.failed(pointer, exc)
            raise
        if self._status is not None:
            self._status.applied(pointer)
        return written

    def _apply(self, pointer: Pointer) -> list[XdsType]:
        snapshot = self._source.fetch(pointer)
        if self._bind:
            snapshot = bind_to(snapshot, self._bind)
        local = to_files(snapshot, self._writer.root)
        staged, kept_loads = self._writer.held_clusters(local) if self._drain_seconds > 0 else (local, set())
        written = self._writer.write(staged, pause_before_routes=self._pause)
        self._writer.prune(staged, kept_loads)
        self._draining = (time.monotonic() + self._drain_seconds, local) if staged is not local else None
        self._etag, self._version = pointer.etag, pointer.version
        log.info("wrote %s for %s version %s", [k.value for k in written], self._proxy, pointer.version)
        return written

    def _drain_if_due(self) -> list[XdsType]:
        """Drop the clusters the current version no longer has, once its routes have had time to load."""
        if self._draining is None or time.monotonic() < self._draining[0]:
            return []
        local = self._draining[1]
        self._draining = None
        written = self._writer.write(local)
        self._writer.prune(local)
        return written

    def run(self, interval: float, should_stop: Callable[[], bool]) -> None:
        while not should_stop():
            try:
                self.sync_once()
            except Exception:
                log.exception("sync of %s failed; retrying", self._proxy)
            if self._status is not None:
                self._status.flush()
            time.sleep(interval)
        if self._status is not None:
            self._status.stopped()
