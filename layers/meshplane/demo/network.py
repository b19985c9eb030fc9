"""Addresses and ports for the demo, chosen so a demo never collides with a test run.

Each service instance gets its own loopback address (Linux routes all of 127/8 to
`lo`), because every sidecar listens on the same fixed ports (ingress 15000, egress
15001) as in App Mesh.  An address is claimed by an exclusive `flock` held for the
demo's lifetime; the kernel releases it if the demo dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_LOCK_DIR = Path(tempfile.gettempdir()) / "meshplane-demo-loopback"
_FIRST_OCTET = 91  # 127.91.0.0/16: away from the ranges the test suite hands out
_SPAN = 254 * 254


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the kernel reports free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class LoopbackAddresses:
    """Claims unique 127.91.x.y addresses whose `ports` are all bindable."""

    lock_dir: Path = _LOCK_DIR
    _held: dict[str, int] = field(default_factory=dict)

    def claim(self, ports: tuple[int, ...]) -> str:
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        start = (os.getpid() * 7919) % _SPAN
        for step in range(_SPAN):
            high, low = divmod((start + step) % _SPAN, 254)
            address = f"127.{_FIRST_OCTET}.{high + 1}.{low + 1}"
            if address in self._held:
                continue
            fd = os.open(self.lock_dir / address, os.O_CREAT | os.O_RDWR, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            if all(_bindable(address, port) for port in ports):
                self._held[address] = fd
                return address
            os.close(fd)
        raise RuntimeError("no free loopback address left in 127.91.0.0/16")

    def release_all(self) -> None:
        for fd in self._held.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._held.clear()
