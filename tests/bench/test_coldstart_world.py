"""The cold-start bench's first calls run in the world their sample events name, and take production's paths there."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import suite_coldstart  # noqa: E402
from coldstart_world import WORLDS  # noqa: E402

RUN = """
import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
import coldstart_first_call as bench
from moto import mock_aws

event = json.loads(Path(sys.argv[2]).read_text())
with mock_aws():
    bench.setup("meshplane-state", "meshplane-snapshots", "meshplane")
    event = bench.seed(Path(sys.argv[3]), event)
    before = {m for m in sys.modules if m.startswith("meshplane")}
    import app
    result = app.handler(event, bench.Context())
    import boto3
    s3, ddb = boto3.client("s3", region_name="us-east-1"), boto3.client("dynamodb", region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="meshplane-snapshots").get("Contents", [])]
    items = [(i["pk"]["S"], i["sk"]["S"]) for i in ddb.scan(TableName="meshplane-state")["Items"]]
    print(json.dumps({"result": result, "keys": keys, "items": items, "preloaded": sorted(before)}))
"""


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Path]]:
    with suite_coldstart.built_world() as built:
        yield built


def first_call(function: str, world: dict[str, Path]) -> dict[str, Any]:
    """The handler's first call on its sample event in its world: what it returned, and the bucket and table after."""
    folder = ROOT / "functions" / function
    event = ROOT / "events" / suite_coldstart.FIRST_CALL_EVENTS[function]
    env = suite_coldstart._first_call_env(folder)
    proc = subprocess.run([sys.executable, "-c", RUN, function, str(event), str(world[WORLDS[function]]),
                           str(ROOT / "bench")], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_every_handler_has_a_world() -> None:
    assert sorted(WORLDS) == sorted(suite_coldstart.FIRST_CALL_EVENTS)


def test_the_recompute_translates_and_publishes_the_proxy_its_route_change_reaches(world: dict[str, Path]) -> None:
    run = first_call("recompute", world)
    assert run["result"] == {"batchItemFailures": []}
    front = [k for k in run["keys"] if k.startswith("snapshots/colors/virtualNode/front/")]
    assert len(front) == 2, "front published once by the world, then again by the first call"
    assert run["preloaded"] == [], "nothing of meshplane is loaded before the handler"


@pytest.mark.parametrize("function", ["ecs_events", "cloudmap_events"])
def test_an_endpoint_event_maps_to_blue_and_writes_its_endpoint(function: str, world: dict[str, Path]) -> None:
    run = first_call(function, world)
    assert run["result"] == {"batchItemFailures": []}
    source = "ecs" if function == "ecs_events" else "cloudmap"
    assert ["EP#colors#blue", f"I#{source}#a1b2c3d4e5f60718293a4b5c6d7e8f90"] in run["items"]


def test_the_reconcile_finds_the_published_mesh_unchanged_since_its_last_pass(world: dict[str, Path]) -> None:
    run = first_call("reconcile", world)
    assert run["result"]["sweep"] is False and run["result"]["published"] == []


def test_a_first_call_runs_in_its_handlers_world_with_the_set_up_heap_frozen(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path) -> None:
    ran: list[list[str]] = []

    def run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        ran.append(argv)
        return subprocess.CompletedProcess(argv, 0, '{"function": "recompute", "failed": false}\n', "")

    monkeypatch.setattr(suite_coldstart.subprocess, "run", run)
    world = {"published": tmp_path / "published.json", "changed": tmp_path / "changed.json"}
    suite_coldstart.first_call(ROOT / "functions" / "recompute", world)
    suite_coldstart.first_call(ROOT / "functions" / "ecs_events", world)
    assert [argv[argv.index("--world") + 1] for argv in ran] == [str(world["changed"]), str(world["published"])]
    assert all("--freeze-setup" in argv for argv in ran)
