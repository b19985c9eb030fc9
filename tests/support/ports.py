"""Free ports and private loopback addresses, safe across xdist workers and concurrent test runs.

Every sidecar instance gets its own 127.77.x.y address so that ingress :15000,
egress :15001 and the app's listener port never collide between Envoys, test
modules, xdist workers, or other engineers' pytest runs on the same machine.
An address is claimed by an exclusive `flock` on a file under the temp dir;
the kernel drops the lock when the owning process dies, so a crashed run
never leaks addresses.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import tempfile
import threading
from pathlib import Path

LOCK_DIR = Path(tempfile.gettempdir()) / "meshplane-loopback"
_FIRST_OCTET_BASE = 77  # 127.77.0.0 .. 127.84.255.255
_BLOCKS = 8


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class LoopbackPool:
    """Hands out unique 127.x.y.z addresses; `release` or process exit gives them back."""

    def __init__(self, lock_dir: Path = LOCK_DIR) -> None:
        self._lock_dir = lock_dir
        self._held: dict[str, int] = {}
        self._guard = threading.Lock()
        # Start the scan at a pid-dependent offset so concurrent processes rarely contend.
        self._cursor = (os.getpid() * 7919) % (_BLOCKS * 254 * 254)

    def allocate(self, ports: tuple[int, ...] = (15000, 15001)) -> str:
        """Claim an address whose `ports` are bindable; raises RuntimeError when none is left."""
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        total = _BLOCKS * 254 * 254
        with self._guard:
            for _ in range(total):
                address = _address(self._cursor)
                self._cursor = (self._cursor + 1) % total
                if address in self._held:
                    continue
                fd = self._try_lock(address)
                if fd is None:
                    continue
                if all(port_is_free(address, port) for port in ports):
                    self._held[address] = fd
                    return address
                _unlock(fd)
        raise RuntimeError("no free loopback address left")

    def release(self, address: str) -> None:
        with self._guard:
            fd = self._held.pop(address, None)
        if fd is not None:
            _unlock(fd)

    def _try_lock(self, address: str) -> int | None:
        fd = os.open(self._lock_dir / address, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd


def _address(index: int) -> str:
    block, rest = divmod(index, 254 * 254)
    high, low = divmod(rest, 254)
    return f"127.{_FIRST_OCTET_BASE + block}.{high + 1}.{low + 1}"


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


_POOL: LoopbackPool | None = None


def loopback_pool() -> LoopbackPool:
    """The process-wide pool (created on first use, never at import)."""
    global _POOL
    if _POOL is None:
        _POOL = LoopbackPool()
    return _POOL
