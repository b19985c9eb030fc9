"""`meshplane agent`: file-mode delivery with no always-on server.

It short-polls the proxy's pointer object with If-None-Match (a 304 costs almost
nothing), and on a new version fetches the snapshot, binds it to the local address,
points its RDS/EDS/SDS references at files, and writes the changed types in warming
order (SDS, CDS, EDS, LDS, RDS: a resource's dependencies land before it does).
Every file is written to a temp file and renamed into its own watched directory.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from envoy.service.discovery.v3.discovery_pb2 import DiscoveryResponse
from google.protobuf import json_format
from google.protobuf.message import Message

from meshplane.delivery.files import PER_RESOURCE, file_path, watched_dir
from meshplane.delivery.rewrite import to_files
from meshplane.delivery.source import S3Source
from meshplane.model.ids import ProxyId
from meshplane.snapshot.localize import bind_to
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import SEND_ORDER, XdsType

log = logging.getLogger(__name__)


def _atomic_write(path: Path, data: bytes, tmp_dir: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # IN_MOVED_TO in the watched directory: Envoy reloads once
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _response(kind: XdsType, version: str, messages: list[Message]) -> bytes:
    response = DiscoveryResponse(version_info=version, type_url=kind.type_url)
    for message in messages:
        response.resources.add().Pack(message, deterministic=True)
    return json_format.MessageToJson(response, sort_keys=True).encode()


class FileWriter:
    """Writes snapshots under `root` in the layout of `delivery.files`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"
        self._written: Snapshot | None = None

    def write(self, snapshot: Snapshot) -> list[XdsType]:
        """Write the types that changed since the last write; returns them in write order."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        changed = snapshot.changed_types(self._written)
        for kind in SEND_ORDER:
            if kind in changed:
                self._write_type(kind, snapshot)
        self._written = snapshot
        return changed

    def _write_type(self, kind: XdsType, snapshot: Snapshot) -> None:
        version = snapshot.versions[kind]
        resources = snapshot.of(kind)
        if kind not in PER_RESOURCE:
            _atomic_write(
                file_path(self.root, kind),
                _response(kind, version, [resources[n] for n in sorted(resources)]),
                self._tmp,
            )
            return
        previous = self._written.of(kind) if self._written else {}
        for name, message in sorted(resources.items()):
            if previous.get(name) != message:
                _atomic_write(file_path(self.root, kind, name), _response(kind, version, [message]), self._tmp)
        for name in set(previous) - set(resources):  # nothing refers to it any more
            stale = file_path(self.root, kind, name)
            stale.unlink(missing_ok=True)
            watched_dir(self.root, kind, name).rmdir()


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
        written = self._writer.write(to_files(snapshot, self._writer.root))
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
