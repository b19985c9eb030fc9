"""Start and stop `meshplane local up` as a child process: the one launcher of the tests, the demo and benchmarks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshplane.local.up import STATE_FILE
from meshplane.localnet.loopback import free_ports
from meshplane.localnet.processes import Child, Supervisor, stop_group
from meshplane.localnet.waiting import wait_until

STARTUP_TIMEOUT = 120.0


@dataclass
class LocalStack:
    """A running `meshplane local up` and how to reach it."""

    api_url: str
    endpoint_url: str
    ads_port: int | None
    table: str
    bucket: str
    bus: str
    config_queue_url: str
    stack_name: str
    state_dir: Path
    child: Child
    state: dict[str, Any]  # as written when the stack became healthy
    startup_seconds: float
    env: dict[str, str] = field(default_factory=dict)

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.child.process

    @property
    def ads_address(self) -> str:
        return f"127.0.0.1:{self.ads_port}"

    def current_state(self) -> dict[str, Any]:
        """The state file now: local up rewrites it when, say, it restarts the ADS server."""
        try:
            state: dict[str, Any] = json.loads((self.state_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return state

    def ads_pid(self) -> int | None:
        """The running ADS server's pid, as local up last recorded it."""
        pid = self.current_state().get("adsPid")
        return pid if isinstance(pid, int) else None

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(  # type: ignore[call-overload]  # boto3-stubs overload literal service names only
            service, endpoint_url=self.endpoint_url, region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(inject_host_prefix=False),
        )

    def appmesh(self) -> Any:
        import boto3

        return boto3.client("appmesh", endpoint_url=self.api_url, region_name=self.env["AWS_DEFAULT_REGION"],
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def function_stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.api_url}/local/functions", timeout=5) as response:
            stats: dict[str, Any] = json.loads(response.read())
        return stats


def stack_env(endpoint_url: str, region: str = "us-east-1") -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
    }


def start_local_up(
    state_dir: Path, *extra: str, stack_name: str | None = None, endpoint_url: str | None = None,
    region: str = "us-east-1", supervisor: Supervisor | None = None, timeout: float = STARTUP_TIMEOUT,
) -> LocalStack:  # fmt: skip
    """Start `meshplane local up` on free ports, with its own moto or against `endpoint_url`, and wait for /healthz.

    It runs as a child of `supervisor` (by default one logging to `state_dir`), so it
    dies with its parent; on failure it is stopped and the error carries its log tail.
    """
    api_port, ads_port, emulator_port = free_ports(3)
    stack_name = stack_name or f"mp{os.getpid()}{time.monotonic_ns() % 100000}"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=region)
    argv = [sys.executable, "-m", "meshplane.cli", "local", "up", "--api-port", str(api_port),
            "--ads-port", str(ads_port), "--emulator-port", str(emulator_port), "--state-dir", str(state_dir),
            "--stack-name", stack_name, *extra]  # fmt: skip
    started = time.monotonic()
    state_dir.mkdir(parents=True, exist_ok=True)
    child = (supervisor or Supervisor(state_dir)).start("local-up", argv, env=env)
    try:
        _wait_healthy(f"http://127.0.0.1:{api_port}/healthz", child, state_dir / STATE_FILE, timeout)
        state = json.loads((state_dir / STATE_FILE).read_text())
    except BaseException:
        stop_group(child.process)
        raise
    return _stack(state, stack_name, state_dir, child, time.monotonic() - started, region)


def _stack(
    state: dict[str, Any], stack_name: str, state_dir: Path, child: Child, seconds: float, region: str
) -> LocalStack:
    outputs = state["outputs"]
    return LocalStack(
        api_url=state["apiUrl"],
        endpoint_url=state["endpointUrl"],
        ads_port=state["adsPort"],
        table=outputs.get("StateTableName", ""),
        bucket=outputs.get("SnapshotBucketName", ""),
        bus=outputs.get("ConfigBusName", ""),
        config_queue_url=outputs.get("ConfigPublishedQueueUrl", ""),
        stack_name=stack_name,
        state_dir=state_dir,
        child=child,
        state=state,
        startup_seconds=seconds,
        env=stack_env(state["endpointUrl"], region),
    )


def _wait_healthy(url: str, child: Child, state_file: Path, timeout: float) -> None:
    def healthy() -> bool:
        if not child.running:
            raise RuntimeError(f"meshplane local up exited with {child.process.returncode}:\n{child.log_tail(4000)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status == 200 and state_file.exists()
        except (urllib.error.URLError, OSError):
            return False

    try:
        wait_until(healthy, timeout, interval=0.1, what=f"{url} to be healthy")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; meshplane local up log:\n{child.log_tail(4000)}") from None


def stop_local_up(stack: LocalStack) -> None:
    stop_group(stack.process, grace=15.0)
