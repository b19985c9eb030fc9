"""Child processes in their own process groups, and proof that none is left when they end.

Each child runs in its own session (`start_new_session`), so stopping it means
signalling its whole process group (`stop_group`): a grandchild in the same group
never outlives it.  A `Supervisor` child also gets SIGTERM from the kernel if the
thread that started it dies without cleaning up (Linux `PR_SET_PDEATHSIG`), so even
a SIGKILLed demo leaves nothing behind: `local up` stops its own children on SIGTERM.
Children may start grandchildren in new sessions of their own (`local up` supervises
moto and the ADS server), so before stopping, the supervisor also records every
descendant found in `/proc` and checks all of them afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from meshplane.localnet.waiting import poll, wait_until


def spawn(
    argv: Sequence[str], env: Mapping[str, str] | None = None, log: Path | None = None, *,
    cwd: Path | None = None, die_with_parent: bool = False,
) -> subprocess.Popen[bytes]:  # fmt: skip
    """Start `argv` in a session of its own, output appended to `log` (else discarded), no stdin.

    `die_with_parent` asks the kernel to SIGTERM the child when the calling thread's
    process goes away (Linux only; elsewhere it is ignored).
    """
    out: IO[bytes] | int = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    arm = _terminate_with(os.getpid()) if die_with_parent and sys.platform == "linux" else None
    try:
        return subprocess.Popen(
            list(argv), env=dict(env) if env is not None else None, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=arm,
        )
    finally:
        if not isinstance(out, int):
            out.close()


_PR_SET_PDEATHSIG = 1


def _terminate_with(parent: int) -> Callable[[], None]:
    """A `preexec_fn` asking the kernel to SIGTERM the child when `parent` exits.

    `prctl` is looked up before the fork: the child of a threaded parent only calls it.
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arm


def signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def stop_group(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group led by `process`, SIGKILL it after `grace` seconds; idempotent."""
    if process.poll() is None:
        signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    signal_group(process.pid, signal.SIGKILL)  # a leader that ignored SIGTERM, and strays left in its group
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `url` answers at all (any HTTP status, or a TLS handshake); RuntimeError if `process` dies first."""

    def answered() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except urllib.error.HTTPError:
            return True
        except urllib.error.URLError as exc:
            return isinstance(exc.reason, ssl.SSLError)  # a TLS endpoint answered; trusting it is boto3's business
        except OSError:
            return False

    wait_until(answered, timeout, what=f"{url} to answer")


def _parent_map() -> dict[int, int]:
    """pid -> ppid for every live process, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: the fields start after the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(roots: Iterable[int]) -> set[int]:
    """All live descendants of `roots` (not the roots themselves)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parent_map().items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2 :].split()[0] != "Z"


@dataclass
class Child:
    """One started process: its name (for the report), Popen handle and log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "<no log>"


@dataclass
class Supervisor:
    """Starts children and stops all of them, their groups and their descendants."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)

    def start(
        self, name: str, command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Child:
        """Start `command` with its output in `<log_dir>/<name>.log`."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        child = Child(name, spawn(command, env, log, cwd=cwd, die_with_parent=True), log)
        self.children.append(child)
        self.seen.add(child.pid)
        return child

    def keep(
        self, name: str, command: Sequence[str], *, env: Mapping[str, str] | None = None, backoff: float = 0.5
    ) -> Restarting:
        """Start `command` and start it again `backoff` seconds after each exit, until the result is stopped."""
        kept = Restarting(self, name, list(command), dict(env) if env is not None else None, backoff)
        kept.start()
        return kept

    def remember_descendants(self) -> None:
        """Record grandchildren now, while the tree still links them to us."""
        self.seen |= descendants(child.pid for child in self.children)

    def stop(self, child: Child, grace: float = 5.0) -> None:
        """SIGTERM the child's group, SIGKILL it after `grace` seconds; idempotent."""
        self.seen |= descendants([child.pid])
        stop_group(child.process, grace)

    def stop_all(self, grace: float = 5.0) -> list[int]:
        """Stop children newest first, then every remembered descendant; returns pids still alive."""
        self.remember_descendants()
        for child in reversed(self.children):
            self.stop(child, grace)
        for pid in self.seen:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        poll(lambda: not any(alive(pid) for pid in self.seen), timeout=5)
        return sorted(pid for pid in self.seen if alive(pid))


class Restarting:
    """One supervised child kept running: a watcher thread starts it again whenever it exits."""

    def __init__(
        self, supervisor: Supervisor, name: str, command: list[str], env: dict[str, str] | None, backoff: float
    ) -> None:
        self._supervisor, self._name, self._command, self._env, self._backoff = supervisor, name, command, env, backoff
        self.child: Child | None = None
        self.restarts = 0
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"meshplane-keep-{name}", daemon=True)

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child else None

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.child = self._supervisor.start(self._name, self._command, env=self._env)
            self._started.set()
            while self.child.running and not self._stop.wait(0.1):
                pass
            if self._stop.is_set():
                break
            self.restarts += 1
            self._stop.wait(self._backoff)

    def stop(self, grace: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.child is not None:
            self._supervisor.stop(self.child, grace)
