"""What every benchmark suite shares: result records, statistics, the machine, free ports.

A suite is a module with `run(profile: Profile) -> Suite`.  It records measured
numbers only; when the code it measures has not landed it says so
(`status="missing"`) instead of inventing a figure.
"""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
Status = Literal["ok", "missing", "error"]


@dataclass(frozen=True)
class Profile:
    """How big and how long: `full` for `make bench`, `quick` for `--quick`, `tiny` for the smoke test."""

    name: Literal["full", "quick", "tiny"]

    @property
    def quick(self) -> bool:
        return self.name != "full"

    def pick(self, full: Any, quick: Any, tiny: Any) -> Any:
        return {"full": full, "quick": quick, "tiny": tiny}[self.name]


@dataclass
class Metric:
    """One measured number, with its target when the issue sets one."""

    name: str
    value: float
    unit: str
    target: float | None = None
    better: Literal["lower", "higher"] = "lower"
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value <= self.target if self.better == "lower" else self.value >= self.target

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


@dataclass
class Suite:
    """The outcome of one benchmark suite."""

    name: str
    status: Status = "ok"
    detail: str = ""
    metrics: list[Metric] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, name: str, value: float, unit: str, **kwargs: Any) -> Metric:
        metric = Metric(name, float(value), unit, **kwargs)
        self.metrics.append(metric)
        return metric

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "metrics": [m.to_dict() for m in self.metrics],
            "tables": self.tables,
            "seconds": round(self.seconds, 2),
        }


class NotLanded(RuntimeError):
    """The code this suite measures is not in the tree yet."""


def require(module: str, *names: str) -> Any:
    """Import `module` (and check `names` exist on it) or raise NotLanded saying what is absent."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise NotLanded(f"{module} is not in the tree") from exc
        raise
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise NotLanded(f"{module} has no {', '.join(missing)}")
    return mod


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: every reported value was observed)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall-clock seconds of `repeats` calls of `fn`."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@contextmanager
def process_group(args: Sequence[str], **kwargs: Any) -> Iterator[subprocess.Popen[Any]]:
    """Start a process in its own group and always kill the whole group afterwards."""
    import signal

    proc = subprocess.Popen(list(args), start_new_session=True, **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with_suppress_kill(proc.pid)
                proc.wait(timeout=5)


def with_suppress_kill(pid: int) -> None:
    import signal

    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


@contextmanager
def ads_server(mode: str, size: int, cache: str = "") -> Iterator[tuple[subprocess.Popen[str], int]]:
    """bench/ads_server.py as its own process group; yields (process, port), its stderr kept for errors."""
    import tempfile

    with tempfile.TemporaryFile("w+") as errors:
        cmd = [sys.executable, str(BENCH / "ads_server.py"), mode, str(size), *([cache] if cache else [])]
        with process_group(cmd, stdout=subprocess.PIPE, stdin=subprocess.PIPE, stderr=errors, text=True) as server:
            ready = server.stdout.readline().split()  # type: ignore[union-attr]
            if not ready or ready[0] != "ready":
                server.wait(timeout=10)
                errors.seek(0)
                raise RuntimeError(f"ADS server did not start: {errors.read()[-1500:]}")
            wait_for_port("127.0.0.1", int(ready[1]), 30, server)
            yield server, int(ready[1])


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _proc_field(path: str, key: str) -> str | None:
    """The first `key: value` line of a /proc file, or None where there is no such file or line."""
    proc = Path(path)
    if not proc.exists():
        return None
    for line in proc.read_text().splitlines():
        if line.startswith(key):
            return line.split(":", 1)[1].strip()
    return None


def machine() -> dict[str, Any]:
    """What a reader needs to judge the numbers: cores, CPU model, memory, Python, Envoy."""
    memory = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "nproc": os.cpu_count(),
        "cpu": _proc_field("/proc/cpuinfo", "model name") or "unknown",
        "memory_total_kib": int(memory.split()[0]) if memory else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "envoy": _envoy_version(),
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: how busy the machine was around a run."""
    return [round(v, 2) for v in os.getloadavg()]


def tree() -> str:
    """The commit measured, with `-dirty` when the work tree differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    return f"{commit}-dirty" if commit and git("status", "--porcelain", "--untracked-files=no") else commit or "unknown"


def _envoy_version() -> str:
    envoy = ROOT / ".venv" / "bin" / "envoy"
    if not envoy.exists():
        return "absent"
    out = subprocess.run([str(envoy), "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.strip().split("version:")[-1].strip() or "unknown"


class StderrView:
    """The demo's View protocol, printing progress to stderr (stdout carries the result)."""

    def title(self, text: str) -> None:
        print(f"== {text}", file=sys.stderr, flush=True)

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        print(f"-> {text}", file=sys.stderr, flush=True)
        yield

    def info(self, text: str) -> None:
        print(f"   {text}", file=sys.stderr, flush=True)

    def table(self, title: str, columns: object, rows: object) -> None:
        print(f"   [{title}]", file=sys.stderr, flush=True)
