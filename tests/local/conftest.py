"""Emulators as `local up` runs them: moto with the local stack's corrections, and plain moto beside it.

Both are separate server processes, as in `local up`: the corrections are installed in the
emulator process only, never in the test's own moto.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from meshplane.localnet import processes
from meshplane.localnet.loopback import free_ports

REGION = "us-east-1"


def serve(module: str, log: Path) -> Iterator[str]:
    (port,) = free_ports(1)
    process = processes.spawn([sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(port)], log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        processes.wait_http(f"{url}/moto-api/", 30, process)
        yield url
    finally:
        processes.stop_group(process)


@pytest.fixture(scope="module")
def own_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The emulator `local up` starts: `python -m meshplane.local.motoserver`."""
    yield from serve("meshplane.local.motoserver", tmp_path_factory.mktemp("own-moto") / "moto.log")


@pytest.fixture(scope="module")
def plain_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto as a user might run it for `AWS_ENDPOINT_URL`: `python -m moto.server`."""
    yield from serve("moto.server", tmp_path_factory.mktemp("plain-moto") / "moto.log")


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}, max_pool_connections=32))


@pytest.fixture(scope="session")
def connect() -> Callable[[str, str], Any]:
    """`connect(endpoint, service)`: a boto3 client of one emulator that never retries."""
    return _client
