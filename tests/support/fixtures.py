"""pytest fixtures for the harness; pull them into a conftest with `from support.fixtures import *`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .envoy import EnvoyRunner
from .mesh import Lab
from .pki import TestCA

__all__ = ["envoy_runner", "lab", "test_ca"]


@pytest.fixture
def envoy_runner(tmp_path: Path) -> Iterator[EnvoyRunner]:
    """Start Envoys with `envoy_runner.start(bootstrap)`; all are killed when the test ends."""
    runner = EnvoyRunner(tmp_path / "envoys")
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One Lab per test module, so a module's sidecars start once and are shared by its tests."""
    with Lab.open(tmp_path_factory.mktemp("lab")) as opened:
        yield opened


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("pki"))
