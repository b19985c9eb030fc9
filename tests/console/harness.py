"""`meshplane console` as a process, raw HTTP to it, and the system Chromium for Playwright.

The browser is Debian's Chromium (`make test` installs it through apt-get when missing),
driven by Playwright from PyPI with `executable_path`: no browser is ever downloaded.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from meshplane.localnet import processes
from meshplane.localnet.loopback import free_port
from meshplane.localnet.waiting import wait_until

CHROMIUM = Path("/usr/bin/chromium")
TOKEN_HEADER = "X-Meshplane-Console-Token"
_PRINTED = re.compile(r"meshplane console: (http://\S+) -> (\S+) \(([^)]*)\)")


def chromium() -> Path:
    """The system Chromium; a skip only where apt-get cannot install it, a failure where `make test` should have."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and this machine has no apt-get to install Debian's chromium: "
                    "the console's browser tests need it")
    pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium and chromium-driver with apt-get "
                "(run it, or `apt-get install chromium chromium-driver`)")


@dataclass(frozen=True)
class RunningConsole:
    """A `meshplane console` process: `url` carries the token; `api` and `how` are what it printed."""

    url: str
    api: str
    how: str
    process: Any

    @property
    def origin(self) -> str:
        return self.url.split("/#", 1)[0]

    @property
    def token(self) -> str:
        return self.url.split("#token=", 1)[1]

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.origin)
        return parts.hostname or "", parts.port or 80


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment with no AWS configuration but `extra` (HOME is an empty directory)."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            **extra}  # fmt: skip


TESTING_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@contextmanager
def console_process(workdir: Path, *args: str, env: Mapping[str, str] | None = None) -> Iterator[RunningConsole]:
    """`meshplane console --port <free> <args>`, until it prints its URL; stopped on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "console.log"
    argv = [sys.executable, "-m", "meshplane.cli", "console", "--port", str(free_port()), *args]
    process = processes.spawn(argv, env=env or clean_env(workdir / "home", **TESTING_KEYS), log=log)
    try:
        found = wait_until(lambda: _printed(log, process), 30, interval=0.1, what="meshplane console to print its URL")
        yield RunningConsole(found[1], found[2], found[3], process)
    finally:
        processes.stop_group(process)


def _printed(log: Path, process: Any) -> re.Match[str] | None:
    text = log.read_text() if log.exists() else ""
    if process.poll() is not None:
        raise AssertionError(f"meshplane console exited with {process.returncode}:\n{text[-3000:]}")
    return _PRINTED.search(text)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_type(self) -> str:
        return self.headers.get("x-amzn-errortype", "")


def call(console: RunningConsole, method: str, path: str, headers: Mapping[str, str] | None = None,
         body: bytes | None = None) -> Answer:  # fmt: skip
    """One raw HTTP request to the console, `Host` its own address unless `headers` names another."""
    host, port = console.address
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": f"{host}:{port}", **(headers or {})}
        for name, value in sent.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def relayed(console: RunningConsole, method: str, path: str, headers: Mapping[str, str] | None = None,
            body: bytes | None = None) -> Answer:  # fmt: skip
    """A call through the relay as the console's own page makes it (its token, its origin)."""
    return call(console, method, f"/api{path}", {TOKEN_HEADER: console.token, **(headers or {})}, body)
