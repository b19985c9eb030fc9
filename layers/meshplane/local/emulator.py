"""The local AWS emulator: moto in server mode, or an endpoint that is already running."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from meshplane.local import processes


@dataclass
class Emulator:
    endpoint_url: str
    process: subprocess.Popen[bytes] | None = None  # None when the endpoint is someone else's

    @classmethod
    def spawn(cls, host: str, port: int, log: Path | None = None) -> Emulator:
        """Start moto without waiting for it, so the caller records it before anything can interrupt."""
        process = processes.spawn([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)], log=log)
        return cls(f"http://{host}:{port}", process)

    def wait_ready(self, timeout: float = 30.0) -> None:
        processes.wait_http(f"{self.endpoint_url}/moto-api/", timeout, self.process)

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)
