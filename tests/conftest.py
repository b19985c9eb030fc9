"""Shared fixtures: a running `meshplane local up` (its own moto, free ports) per xdist worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from meshplane.local.harness import LocalStack, start_local_up, stop_local_up


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One `meshplane local up` of the repository's template per xdist worker."""
    stack = start_local_up(
        tmp_path_factory.mktemp("local-up"), "--schedule-interval", "5", "--parameter", "MeshQuota=1000"
    )
    try:
        yield stack
    finally:
        stop_local_up(stack)
