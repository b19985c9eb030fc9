"""The local AWS emulator: moto in server mode with the local stack's corrections, or an endpoint already running."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from meshplane.localnet import processes

EXTERNAL_WAIT = 5.0  # seconds an endpoint someone else runs gets to answer: it should be up already


class EmulatorUnavailable(RuntimeError):
    """The emulator did not answer: `local up` cannot start."""


@dataclass
class Emulator:
    endpoint_url: str
    process: subprocess.Popen[bytes] | None = None  # None when the endpoint is someone else's

    @classmethod
    def spawn(cls, host: str, port: int, log: Path | None = None) -> Emulator:
        """Start moto without waiting for it, so the caller records it before anything can interrupt."""
        argv = [sys.executable, "-m", "meshplane.local.motoserver", "-H", host, "-p", str(port)]
        return cls(f"http://{host}:{port}", processes.spawn(argv, log=log))

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the endpoint answers HTTP at all; EmulatorUnavailable if it does not in time."""
        if timeout is None:
            timeout = 30.0 if self.process is not None else EXTERNAL_WAIT
        try:
            processes.wait_http(f"{self.endpoint_url}/moto-api/", timeout, self.process)
        except TimeoutError:
            whose = "the emulator at" if self.process else "AWS_ENDPOINT_URL"
            raise EmulatorUnavailable(f"{whose} {self.endpoint_url} did not answer within {timeout:g}s") from None
        except RuntimeError as exc:  # the child exited first
            raise EmulatorUnavailable(f"the emulator exited before it answered: {exc}") from None

    def stop(self) -> None:
        if self.process is not None:
            processes.stop_group(self.process)
