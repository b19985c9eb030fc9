"""A function whose pool runs several workers gets one core per worker; a lone worker runs anywhere."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from meshplane.local.cores import core_for, usable
from meshplane.local.invoker import FunctionPool
from meshplane.local.plan import FunctionSpec

PROBE = """
import os, time

def handler(event, context):
    time.sleep(event["hold"])  # long enough for the other invocation to need a worker of its own
    return sorted(os.sched_getaffinity(0))
"""


def test_a_pool_of_one_leaves_its_worker_free_and_a_larger_pool_deals_the_cores_out_in_turn() -> None:
    cores = usable()
    assert core_for(0, 1) is None
    assert [core_for(k, 3) for k in range(2 * len(cores))] == cores + cores


def test_each_worker_of_a_concurrent_function_runs_on_its_own_core(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(PROBE)
    spec = FunctionSpec(logical_id="Probe", name="probe", arn="arn:aws:lambda:us-east-1:123456789012:function:probe",
                        code_dir=tmp_path, handler="app.handler", timeout=30, memory=1769, environment={})
    pool = FunctionPool(spec, dict(os.environ), None, size=2)
    pool.start()
    try:
        assert pool.wait_ready().get("ready")
        seen: list[list[int]] = []
        calls = [threading.Thread(target=lambda: seen.append(pool.invoke({"hold": 1.0}).result)) for _ in range(2)]
        for call in calls:
            call.start()
        for call in calls:
            call.join(60)
        assert sorted(seen) == sorted([[core_for(0, 2)], [core_for(1, 2)]])
        alone = FunctionPool(spec, dict(os.environ), None, size=1)
        alone.start()
        try:
            assert alone.invoke({"hold": 0}).result == usable()
        finally:
            alone.stop()
    finally:
        pool.stop()
