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
    def start(cls, host: str, port: int, log: Path | None = None, timeout: float = 30.0) -> Emulator:
        process = processes.spawn([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)], log=log)
        url = f"http://{host}:{port}"
        try:
            processes.wait_http(f"{url}/moto-api/", timeout, process)
        except BaseException:
            processes.stop(process)
            raise
        return cls(url, process)

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)
