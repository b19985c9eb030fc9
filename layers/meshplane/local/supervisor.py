"""Keeps one child process running: started again whenever it exits, until stopped."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from meshplane.local import processes


class Supervisor:
    def __init__(self, argv: Sequence[str], env: Mapping[str, str], log: Path | None, backoff: float = 0.5) -> None:
        self.argv, self.env, self.log, self.backoff = list(argv), dict(env), log, backoff
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="meshplane-supervisor", daemon=True)
        self._started = threading.Event()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.process = processes.spawn(self.argv, self.env, self.log)
            self._started.set()
            while self.process.poll() is None and not self._stop.wait(0.1):
                pass
            if self._stop.is_set():
                break
            self.restarts += 1
            self._stop.wait(self.backoff)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.process is not None:
            processes.stop(self.process)
