"""`meshplane` as an operator runs it: a subprocess with an environment of the test's making."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.moto import moto_server

MESHPLANE = str(Path(sys.executable).parent / "meshplane")
RUN_TIMEOUT_S = 120  # a command that should refuse at once; a server that starts instead fails the test


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.strip().splitlines()


def bare_environment(home: Path, **extra: str) -> dict[str, str]:
    """No AWS configuration at all: no variables, no shared files, no instance metadata service."""
    return {
        "PATH": "/usr/bin:/bin", "HOME": str(home), "AWS_CONFIG_FILE": str(home / "no-such-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-such-credentials"), "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }  # fmt: skip


def meshplane(*argv: str, env: Mapping[str, str], cwd: Path) -> Result:
    done = subprocess.run([MESHPLANE, *argv], env=dict(env), cwd=cwd, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=False)  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    yield from moto_server()
