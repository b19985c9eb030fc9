"""Addresses and ports for the demo, chosen so a demo never collides with a test run.

Each service instance gets its own loopback address from the shared localnet
allocator, in 127.91.0.0/16 (the tests use 127.77-84) with its own lock directory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from meshplane.localnet.loopback import LoopbackPool, free_port

__all__ = ["LoopbackAddresses", "free_port"]

_LOCK_DIR = Path(tempfile.gettempdir()) / "meshplane-demo-loopback"


class LoopbackAddresses(LoopbackPool):
    """Claims unique 127.91.x.y addresses whose `ports` are all bindable, held for the demo's lifetime."""

    def __init__(self, lock_dir: Path = _LOCK_DIR) -> None:
        super().__init__(lock_dir, first_octet=91, blocks=1)

    def claim(self, ports: tuple[int, ...]) -> str:
        return self.allocate(ports)
