"""`bench/batch_cpu.py` runs every setting it compares on shards of one change and reports finite numbers."""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import batch_cpu  # noqa: E402


def test_each_setting_runs_its_turn_of_shards_and_the_whole_mesh_both_ways() -> None:
    shards = batch_cpu.shards(400, 50)  # 8 shards: the first warms, then each setting gets its turns
    assert set(shards) == set(batch_cpu.SETTINGS)
    assert all(r["shards"] >= 2 and math.isfinite(r["CPU ms per proxy (median)"]) for r in shards.values())
    whole = batch_cpu.whole_mesh(100, repeats=1)
    assert set(whole) == {"collector paused over the batch", "collector per translation"}
    assert all(ms > 0 for ms in whole.values())
