"""Shared fixtures: a running `meshplane local up` (its own moto, free ports) per xdist worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from meshplane.local.harness import LocalStack, start_local_up, stop_local_up


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One `meshplane local up` of the repository's template per xdist worker.

    Its scheduled functions run once a minute: each reconcile pass reads every mesh the session's tests left
    behind, and none of those tests waits on a schedule (the rollout end-to-end test starts its own stack)."""
    stack = start_local_up(
        tmp_path_factory.mktemp("local-up"), "--schedule-interval", "60", "--parameter", "MeshQuota=1000"
    )
    try:
        yield stack
    finally:
        stop_local_up(stack)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep `--dist loadgroup` grouping: xdist marks a group by suffixing `item._nodeid`, which pytest 9.2 no
    longer reads (it keeps the id in `item._id`), so without this every `xdist_group` module would be split over
    the workers and its module-scoped stack (the demo, an ADS process, an API stack) started once per worker."""
    if not getattr(config.option, "loadgroup", False):  # xdist sets it on its workers under --dist loadgroup
        return
    from _pytest.nodeid import NodeId

    for item in items:
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})  # fmt: skip
        if groups and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")
