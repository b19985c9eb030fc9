"""`meshplane agent`: file-mode delivery with no always-on server.

It short-polls the proxy's pointer object with If-None-Match (a 304 costs almost
nothing), and on a new version fetches the snapshot, binds it to the local address,
points its RDS/EDS/SDS references at files, and writes the files that changed,
referenced before referencing (SDS, EDS, CDS, RDS, LDS): Envoy rejects a path
source whose file does not exist yet.
Every file is written to a temp file and renamed into its own watched directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from envoy.service.discovery.v3.discovery_pb2 import DiscoveryResponse
from google.protobuf.message import Message

from meshplane.delivery.files import PER_RESOURCE, file_path, watched_dir
from meshplane.delivery.rewrite import to_files
from meshplane.delivery.source import S3Source
from meshplane.model.ids import ProxyId
from meshplane.snapshot.localize import bind_to
from meshplane.snapshot.snapshot import Snapshot
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


def _response(kind: XdsType, version: str, messages: list[Message]) -> bytes:
    response = DiscoveryResponse(version_info=version, type_url=kind.type_url)
    for message in messages:
        response.resources.add().Pack(message, deterministic=True)
    return response.SerializeToString(deterministic=True)


class FileWriter:
    """Writes snapshots under `root` in the layout of `delivery.files`.

    It compares with what is on disk rather than remembering, so a restarted agent
    rewrites nothing that did not change.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"

    def write(self, snapshot: Snapshot) -> list[XdsType]:
        """Write what changed, referenced files first; returns the types that had a file written."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        return [kind for kind in FILE_ORDER if self._write_type(kind, snapshot)]

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

    def prune(self, snapshot: Snapshot) -> None:
        """Remove per-resource files nothing refers to any more (after the referrers were rewritten)."""
        for kind in PER_RESOURCE:
            keep = {watched_dir(self.root, kind, name) for name in snapshot.of(kind)}
            base = watched_dir(self.root, kind)
            for directory in base.iterdir() if base.exists() else ():
                if directory not in keep:
                    shutil.rmtree(directory, ignore_errors=True)


class Agent:
    """Polls one proxy's pointer and keeps its files current."""

    def __init__(self, source: S3Source, proxy: ProxyId, writer: FileWriter, bind_address: str | None = None) -> None:
        self._source = source
        self._proxy = proxy
        self._writer = writer
        self._bind = bind_address
        self._etag = ""
        self._version = ""

    def sync_once(self) -> list[XdsType]:
        """One poll: returns the types written (empty when nothing changed)."""
        pointer = self._source.pointer(self._proxy, if_none_match=self._etag)
        if pointer is None or pointer.version == self._version:
            return []
        snapshot = self._source.fetch(pointer)
        if self._bind:
            snapshot = bind_to(snapshot, self._bind)
        local = to_files(snapshot, self._writer.root)
        written = self._writer.write(local)
        self._writer.prune(local)
        self._etag, self._version = pointer.etag, pointer.version
        log.info("wrote %s for %s version %s", [k.value for k in written], self._proxy, pointer.version)
        return written

    def run(self, interval: float, should_stop: Callable[[], bool]) -> None:
        while not should_stop():
            try:
                self.sync_once()
            except Exception:
                log.exception("sync of %s failed; retrying", self._proxy)
            time.sleep(interval)
