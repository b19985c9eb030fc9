"""The on-disk layout of file mode, shared by `meshplane agent` and the file-mode bootstrap.

Envoy's path-based xDS needs one DiscoveryResponse file per subscription, and an
RDS/EDS/SDS subscription accepts exactly one resource.  So LDS and CDS each get
one file, and every route configuration, load assignment and secret gets its own.
Files are binary `DiscoveryResponse`s (`.pb`): JSON would need every `Any` type imported.
Each file lives alone in its own watched directory, so the rename that publishes
it is seen by exactly one subscription, exactly once.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from envoy.config.core.v3.config_source_pb2 import ApiVersion, ConfigSource

from meshplane.snapshot.types import XdsType

_SHORT = {
    XdsType.LISTENERS: "lds",
    XdsType.CLUSTERS: "cds",
    XdsType.ROUTES: "rds",
    XdsType.ENDPOINTS: "eds",
    XdsType.SECRETS: "sds",
}
PER_RESOURCE = frozenset({XdsType.ROUTES, XdsType.ENDPOINTS, XdsType.SECRETS})


def _safe(name: str) -> str:
    """A file-system-safe, collision-free directory name for a resource name (ARNs included)."""
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80]
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def watched_dir(root: Path, kind: XdsType, name: str | None = None) -> Path:
    base = root / _SHORT[kind]
    return base / _safe(name) if kind in PER_RESOURCE and name is not None else base


def file_path(root: Path, kind: XdsType, name: str | None = None) -> Path:
    return watched_dir(root, kind, name) / f"{_SHORT[kind]}.pb"


def path_source(root: Path, kind: XdsType, name: str | None = None) -> ConfigSource:
    """The ConfigSource Envoy uses to read this type (or this one resource) from disk."""
    source = ConfigSource(resource_api_version=ApiVersion.V3)
    source.path_config_source.path = str(file_path(root, kind, name))
    source.path_config_source.watched_directory.path = str(watched_dir(root, kind, name))
    return source
