"""Child processes in their own process groups, and proof that none is left when they end.

Each child runs in its own session (`start_new_session`), so stopping it means
signalling its whole process group (`stop_group`, also used for the test harness's
Envoys).  A `Supervisor` child also gets SIGTERM from the kernel if its parent dies
without cleaning up (Linux `PR_SET_PDEATHSIG`), so even a SIGKILLed demo leaves
nothing behind: `local up` stops its own children on SIGTERM.  Children may start
grandchildren in new sessions of their own (`local up` supervises moto and the ADS
server), so before stopping, the supervisor also records every descendant found in
`/proc` and checks all of them afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


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


_PR_SET_PDEATHSIG = 1


def _terminate_with(parent: int) -> Callable[[], None]:
    """A `preexec_fn` asking the kernel to SIGTERM the child when `parent` exits."""

    def arm() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arm


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


def signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def stop_group(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group led by `process`, SIGKILL it after `grace` seconds; idempotent."""
    if process.poll() is None:
        signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    signal_group(process.pid, signal.SIGKILL)  # strays left in the group after the leader exited


@dataclass
class Supervisor:
    """Starts children and stops all of them, their groups and their descendants."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)

    def start(
        self, name: str, command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as sink:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_terminate_with(os.getpid()) if sys.platform == "linux" else None,
            )
        child = Child(name, process, log)
        self.children.append(child)
        self.seen.add(child.pid)
        return child

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
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in self.seen):
            time.sleep(0.05)
        return sorted(pid for pid in self.seen if alive(pid))
