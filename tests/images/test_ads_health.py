"""The ADS image's health check (`envoy_bootstrap/image/meshplane-ads-health`): it finds the running `meshplane ads`
by its command line, dials the port that command line gave it, and says plainly when nothing answers there."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from delivery.harness import Aws
from meshplane.localnet.processes import stop_group
from meshplane.localnet.waiting import wait_until
from support.ports import free_port, loopback_pool

from .native import IMAGE_DIR, MESHPLANE


def health_module() -> ModuleType:
    path = str(IMAGE_DIR / "meshplane-ads-health")
    loader = importlib.machinery.SourceFileLoader("meshplane_ads_health", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


HEALTH = health_module()


def fake_proc(root: Path, *argvs: list[str]) -> Path:
    """A /proc holding only these processes' command lines (NUL-separated, as the kernel writes them)."""
    for pid, argv in enumerate(argvs, start=100):
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "cmdline").write_bytes(b"\0".join(word.encode() for word in argv) + b"\0")
    return root


@pytest.mark.parametrize(("argv", "address"), [
    (["ads"], ("127.0.0.1", 18000)),
    (["ads", "--host=0.0.0.0", "--port=18005", "--bucket", "b"], ("127.0.0.1", 18005)),
    (["ads", "--host", "::", "--port", "19000", "--ca-secret-arn=arn:x"], ("::1", 19000)),
    (["ads", "--host", "10.0.3.7", "--port", "18000", "--cache-mb=256"], ("10.0.3.7", 18000)),
])  # fmt: skip
def test_the_address_is_the_servers_own_flags_with_wildcards_dialled_on_loopback(argv, address) -> None:
    assert HEALTH.ads_address(argv) == address


def test_the_server_is_found_behind_its_interpreter_and_among_other_processes(tmp_path: Path) -> None:
    server = ["/opt/meshplane/bin/python3", "/opt/meshplane/bin/meshplane", "ads", "--port=18001"]
    proc = fake_proc(tmp_path, ["/bin/sh"], server, ["/opt/meshplane/bin/python3", "/usr/local/bin/health"])
    assert list(HEALTH.server_argvs(proc)) == [["ads", "--port=18001"]]


def test_no_server_is_unhealthy_with_a_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proc = fake_proc(tmp_path, ["/opt/meshplane/bin/meshplane", "agent", "--node-id", "x"])
    assert HEALTH.main(proc) == 1
    assert "no `meshplane ads` process" in capsys.readouterr().err


@pytest.fixture
def address() -> Iterator[str]:
    pool = loopback_pool()
    held = pool.allocate(())
    yield held
    pool.release(held)


def test_a_running_server_is_healthy_and_a_stopped_one_is_not(aws: Aws, address: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    port = free_port()
    with (tmp_path / "ads.log").open("wb") as log:
        server = subprocess.Popen([MESHPLANE, "ads", "--host", address, f"--port={port}", "--bucket", aws.bucket,
                                   "--queue-url", aws.queue_url, "--no-preload"],
                                  env={**os.environ, **aws.env()}, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    try:
        cmdline = Path(f"/proc/{server.pid}/cmdline")
        argv = wait_until(lambda: cmdline.read_bytes().decode().split("\0")[:-1], 10, what="the server's argv")
        proc = fake_proc(tmp_path / "proc", argv)
        wait_until(lambda: HEALTH.main(proc) == 0 or server.poll() is not None, 30, what="the ADS to listen")
        assert server.poll() is None, (tmp_path / "ads.log").read_text()
    finally:
        stop_group(server)
    capsys.readouterr()
    assert HEALTH.main(proc) == 1
    assert f"does not accept connections on {address}:{port}" in capsys.readouterr().err
