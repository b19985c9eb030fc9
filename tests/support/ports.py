"""Free ports and private loopback addresses (127.77.x.y .. 127.84.x.y) for tests.

The allocator is the shared `meshplane.localnet.loopback` one; this module only
fixes the tests' lock directory and hands out one pool per process.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from meshplane.localnet.loopback import LoopbackPool, free_port, port_is_free

__all__ = ["LOCK_DIR", "LoopbackPool", "free_port", "loopback_pool", "port_is_free"]

LOCK_DIR = Path(tempfile.gettempdir()) / "meshplane-loopback"

_POOL: LoopbackPool | None = None


def loopback_pool() -> LoopbackPool:
    """The process-wide pool (created on first use, never at import)."""
    global _POOL
    if _POOL is None:
        _POOL = LoopbackPool(LOCK_DIR)
    return _POOL
