"""Where a proxy's snapshots and pointer live in the bucket.

Deployed buckets, IAM policies (`bootstrap.iam_policy`) and the lifecycle rule on
`snapshots/` name these keys, so they never change shape.
"""

from __future__ import annotations

from meshplane.model.ids import ProxyId

SNAPSHOT_PREFIX = "snapshots/"
SNAPSHOT_SUFFIX = ".snap"  # `Snapshot.to_bytes`; readers take either form (`Snapshot.loads`)
POINTER_PREFIX = "pointers/"
POINTER_SUFFIX = ".json"


def snapshot_key(proxy: ProxyId, version: str) -> str:
    """`snapshots/<mesh>/<kind>/<name>/<version>.snap`: content-addressed, written once."""
    return f"{SNAPSHOT_PREFIX}{proxy.mesh}/{proxy.kind.value}/{proxy.name}/{version}{SNAPSHOT_SUFFIX}"


def pointer_key(proxy: ProxyId) -> str:
    """`pointers/<mesh>/<kind>/<name>.json`: overwritten by every publish of the proxy."""
    return f"{POINTER_PREFIX}{proxy.mesh}/{proxy.kind.value}/{proxy.name}{POINTER_SUFFIX}"


def proxy_of_pointer_key(key: str) -> ProxyId | None:
    """The inverse of `pointer_key`; None for anything else under the prefix."""
    if not key.startswith(POINTER_PREFIX) or not key.endswith(POINTER_SUFFIX):
        return None
    parts = key[len(POINTER_PREFIX) : -len(POINTER_SUFFIX)].split("/")
    if len(parts) != 3:
        return None
    try:
        return ProxyId.parse(f"mesh/{parts[0]}/{parts[1]}/{parts[2]}")
    except ValueError:
        return None
