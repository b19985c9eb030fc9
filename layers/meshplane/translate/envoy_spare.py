"""An Envoy started ahead of the next `envoy --mode validate`, waiting for its config on a named pipe.

Validating a proxy's config is a small part of an Envoy process's life: most of it is the
start (loading a 100 MB binary, registering every extension).  Starting the next validator
while nothing waits for it takes that start off the path of a publish.  The spare is told to
read its config from a FIFO with a `.pb` name, which Envoy opens and reads as it would a
file of a binary `Bootstrap`, and blocks there until a config is written.  Binary, not JSON:
serialising the bootstrap is protobuf's own C code where JSON is `json_format`'s Python, and
Envoy parses it without converting JSON first; what it then validates is the same message.

A spare lives at most `IDLE_S` (coreutils `timeout`), so one whose process died unfed never
lingers for long, and is taken only while young enough to finish any validation before then.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence

IDLE_S = 180  # a spare nobody fed is killed after this long, even if its process was killed
_FRESH_S = IDLE_S / 2  # taken only this young: a validation never runs into the kill


class Spare:
    """One Envoy in validate mode, blocked on reading its config from a FIFO."""

    def __init__(self, command: Sequence[str]) -> None:
        """`command` is Envoy's argv without `-c`; the config path is added here."""
        self.command = tuple(command)
        self.started = time.monotonic()
        self._dir = tempfile.mkdtemp(prefix="meshplane-envoy-validate-")
        self._path = os.path.join(self._dir, "bootstrap.pb")  # the suffix tells Envoy the format
        os.mkfifo(self._path, 0o600)
        argv = [*command, "-c", self._path]
        limiter = shutil.which("timeout")
        if limiter is not None:
            argv = [limiter, "--foreground", "-s", "KILL", str(IDLE_S), *argv]
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)  # fmt: skip
        # `--foreground` keeps both in this process group, so stopping the group stops both.

    def usable(self, command: Sequence[str]) -> bool:
        """Still waiting, young enough, and started with `command`."""
        fresh = time.monotonic() - self.started < _FRESH_S
        return fresh and self.command == tuple(command) and self._process.poll() is None

    def run(self, config: bytes, timeout: float) -> tuple[int, str]:
        """Hand `config` (a serialised `Bootstrap`) to the waiting Envoy: its exit code and what it printed
        (stderr first).
        Raises subprocess.TimeoutExpired (the process killed) when it takes longer than `timeout`."""
        feeder = threading.Thread(target=self._feed, args=(config,), daemon=True)
        feeder.start()
        try:
            out, err = self._process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            raise
        finally:
            self._release(feeder)
            shutil.rmtree(self._dir, ignore_errors=True)
        return self._process.returncode, err or out

    def close(self) -> None:
        """Stop a spare that will not be used.  SIGTERM, which `timeout` passes on to Envoy (a
        SIGKILL would end `timeout` alone and leave Envoy waiting on its FIFO)."""
        if self._process.poll() is None:
            self._process.terminate()
        try:
            self._process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _feed(self, config: bytes) -> None:
        with contextlib.suppress(OSError), open(self._path, "wb") as pipe:  # waits for Envoy to open it
            pipe.write(config)  # an OSError: Envoy went away before reading all of it; its exit code says so

    def _release(self, feeder: threading.Thread) -> None:
        """A feeder still waiting for a reader (Envoy exited before opening its config) is let go."""
        if feeder.is_alive():
            with contextlib.suppress(OSError):
                os.close(os.open(self._path, os.O_RDONLY | os.O_NONBLOCK))
        feeder.join(timeout=5)


_lock = threading.Lock()
_waiting: Spare | None = None


def _take(command: Sequence[str]) -> Spare:
    """The waiting spare if it fits, else a new Envoy (which pays its own start)."""
    global _waiting
    with _lock:
        spare, _waiting = _waiting, None
    if spare is not None and spare.usable(command):
        return spare
    if spare is not None:
        spare.close()
    return Spare(command)


def _replenish(command: Sequence[str]) -> None:
    global _waiting
    with _lock:
        if _waiting is not None:
            return
        _waiting = Spare(command)


def validate(command: Sequence[str], config: bytes, timeout: float) -> tuple[int, str]:
    """Run `command -c <config>` (a serialised `Bootstrap`) on a spare Envoy; one more is started for the next
    call."""
    spare = _take(command)
    try:
        return spare.run(config, timeout)
    finally:
        _replenish(command)


@atexit.register
def _close_waiting() -> None:
    global _waiting
    with _lock:
        spare, _waiting = _waiting, None
    if spare is not None:
        spare.close()
