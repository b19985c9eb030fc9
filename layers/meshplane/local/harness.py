"""Start and stop `meshplane local up` as a child process: for tests, the demo and benchmarks."""

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

from meshplane.local import processes
from meshplane.localnet.loopback import free_ports

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
    process: subprocess.Popen[bytes]
    state: dict[str, Any]
    startup_seconds: float
    env: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
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
            return json.loads(response.read())


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
    state_dir: Path, *extra: str, stack_name: str | None = None, endpoint_url: str | None = None
) -> LocalStack:
    """Start `meshplane local up` on free ports, with its own moto or against `endpoint_url`, and wait for /healthz."""
    api_port, ads_port, emulator_port = free_ports(3)
    stack_name = stack_name or f"mp{os.getpid()}{time.monotonic_ns() % 100000}"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    argv = [sys.executable, "-m", "meshplane.cli", "local", "up", "--api-port", str(api_port),
            "--ads-port", str(ads_port), "--emulator-port", str(emulator_port), "--state-dir", str(state_dir),
            "--stack-name", stack_name, *extra]
    started = time.monotonic()
    state_dir.mkdir(parents=True, exist_ok=True)
    process = processes.spawn(argv, env, log=state_dir / "local-up.log")
    try:
        _wait_healthy(f"http://127.0.0.1:{api_port}/healthz", process, state_dir)
        state = json.loads((state_dir / "state.json").read_text())
    except BaseException:
        processes.stop(process)
        raise
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
        process=process,
        state=state,
        startup_seconds=time.monotonic() - started,
        env=stack_env(state["endpointUrl"]),
    )


def _wait_healthy(url: str, process: subprocess.Popen[bytes], state_dir: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (state_dir / "local-up.log").read_text()[-4000:]
            raise RuntimeError(f"meshplane local up exited with {process.returncode}:\n{log}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200 and (state_dir / "state.json").exists():
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not healthy within {STARTUP_TIMEOUT}s")


def stop_local_up(stack: LocalStack) -> None:
    processes.stop(stack.process, grace=15.0)
