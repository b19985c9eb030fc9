"""Free ports and private loopback addresses, safe across processes and concurrent runs.

Every sidecar gets its own 127.x.y.z address (Linux routes all of 127/8 to `lo`),
because all sidecars listen on the same fixed ports (ingress 15000, egress 15001)
as in App Mesh.  An address is claimed by an exclusive `flock` on a file under a
lock directory; the kernel drops the lock when the owner dies, so a crashed run
never leaks addresses.  Callers pick disjoint ranges (the tests 127.77-84, the
demo 127.91) so a demo never collides with a test run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
from pathlib import Path

_BLOCK = 254 * 254  # addresses in one 127.N.0.0/16 block (x.y in 1..254)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the kernel picks it)."""
    (port,) = free_ports(1, host)
    return port


def free_ports(count: int, host: str = "127.0.0.1") -> tuple[int, ...]:
    """`count` distinct free TCP ports on `host`.

    Why not `free_port()` n times: each call closes its socket before the next, so
    the kernel may hand the same port out twice (seen: the ADS and the emulator of
    one `local up` both given 51705).  Holding every socket until all are picked
    makes them distinct.
    """
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return tuple(int(sock.getsockname()[1]) for sock in sockets)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on host:port now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class LoopbackPool:
    """Hands out unique addresses in 127.`first_octet`.0.0 onwards (`blocks` /16s); `release` gives them back."""

    def __init__(self, lock_dir: Path, *, first_octet: int = 77, blocks: int = 8) -> None:
        self._lock_dir = lock_dir
        self._first_octet = first_octet
        self._total = blocks * _BLOCK
        self._held: dict[str, int] = {}
        self._guard = threading.Lock()
        # Start the scan at a pid-dependent offset so concurrent processes rarely contend.
        self._cursor = (os.getpid() * 7919) % self._total

    def allocate(self, ports: tuple[int, ...] = (15000, 15001)) -> str:
        """Claim an address whose `ports` are bindable; raises RuntimeError when none is left."""
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        with self._guard:
            for _ in range(self._total):
                address = self._address(self._cursor)
                self._cursor = (self._cursor + 1) % self._total
                if address in self._held:
                    continue
                fd = self._try_lock(address)
                if fd is None:
                    continue
                if all(port_is_free(address, port) for port in ports):
                    self._held[address] = fd
                    return address
                _unlock(fd)
        raise RuntimeError(f"no free loopback address left in 127.{self._first_octet}.0.0 onwards")

    def release(self, address: str) -> None:
        with self._guard:
            fd = self._held.pop(address, None)
        if fd is not None:
            _unlock(fd)

    def release_all(self) -> None:
        with self._guard:
            held, self._held = self._held, {}
        for fd in held.values():
            _unlock(fd)

    def _address(self, index: int) -> str:
        block, rest = divmod(index, _BLOCK)
        high, low = divmod(rest, 254)
        return f"127.{self._first_octet + block}.{high + 1}.{low + 1}"

    def _try_lock(self, address: str) -> int | None:
        fd = os.open(self._lock_dir / address, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
