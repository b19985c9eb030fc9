"""A stop signal while `meshplane local up` is still starting ends it promptly, leaving no process behind."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from meshplane.localnet import processes
from meshplane.localnet.loopback import free_ports

APP = Path(__file__).parent / "recorder_app" / "template.yaml"


def _children(pid: int) -> dict[int, str]:
    """Every live descendant of `pid` with its command line (local up starts them in their own sessions)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = commands.get(child, "")
                frontier.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_while_the_emulator_starts_aborts_startup_at_once_and_stops_every_child(tmp_path: Path) -> None:
    state_dir = tmp_path / "aborted"
    state_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    api_port, emulator_port = free_ports(2)
    argv = [sys.executable, "-m", "meshplane.cli", "local", "up", "--template", str(APP), "--no-ads",
            "--api-port", str(api_port), "--emulator-port", str(emulator_port),
            "--state-dir", str(state_dir), "--stack-name", f"abort{os.getpid()}{time.monotonic_ns() % 100000}"]
    up = processes.spawn(argv, env, log=state_dir / "local-up.log")
    try:
        deadline = time.monotonic() + 60
        children: dict[int, str] = {}
        while not any("meshplane.local.motoserver" in cmd for cmd in children.values()):  # startup is under way
            assert up.poll() is None and time.monotonic() < deadline, (state_dir / "local-up.log").read_text()
            time.sleep(0.02)
            children = _children(up.pid)
        up.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        exit_code = up.wait(30)
        took = time.monotonic() - signalled
    finally:
        processes.stop_group(up)
    log = (state_dir / "local-up.log").read_text()
    assert exit_code == 0, log
    assert "stop signal during startup: aborted" in log  # it did not finish starting first
    assert took < 5.0, f"took {took:.1f}s to exit after SIGTERM"
    assert "stack ready" not in log
    assert [cmd for pid, cmd in children.items() if _alive(pid)] == []
    assert not (state_dir / "state.json").exists()
