"""A recompute makes its ACM resolver (importing `pipeline.acm`), S3 and EventBridge clients only when it uses them."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from meshplane.model.ids import Kind
from meshplane.pipeline.runtime import AcmOnFirstUse, Pipeline

from .conftest import World, make_world, sample


class Resolver:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def resolve(self, snapshot: Any, previous: Any, stamps: Any) -> str:
        self.calls.append(snapshot)
        return f"resolved {snapshot}"


def test_the_resolver_is_made_on_the_first_resolve_and_then_answers_every_later_one() -> None:
    made: list[Resolver] = []

    def make() -> Any:
        made.append(Resolver())
        return made[-1]

    lazy = AcmOnFirstUse(make)
    assert made == [] and not lazy.made
    assert lazy.resolve("a", lambda: None, {}) == "resolved a"
    lazy.resolve("b", lambda: None, {})
    assert len(made) == 1 and made[0].calls == ["a", "b"]


def test_threads_resolving_at_once_share_one_resolver() -> None:
    made: list[Resolver] = []
    gate = threading.Barrier(8)

    def make() -> Any:
        time.sleep(0.01)  # a while to make: the other threads arrive meanwhile
        made.append(Resolver())
        return made[-1]

    lazy = AcmOnFirstUse(make)

    def resolve(name: str) -> None:
        gate.wait()
        lazy.resolve(name, lambda: None, {})

    threads = [threading.Thread(target=resolve, args=(str(i),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and sorted(made[0].calls) == [str(i) for i in range(8)]


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made: list[int] = []
    original = Pipeline._new_acm_secrets

    def counted(self: Pipeline) -> Any:
        made.append(1)
        return original(self)

    monkeypatch.setattr(Pipeline, "_new_acm_secrets", counted)
    return made


def test_a_recompute_of_a_mesh_that_is_gone_makes_no_acm_resolver(world: World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    made = _counting(monkeypatch)
    result = world.pipeline.recompute(sample("dynamodb_stream_batch.json"), None)
    assert result == {"batchItemFailures": []}
    assert made == []


def test_a_recompute_that_builds_a_proxy_in_full_still_makes_one(world: World,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    made = _counting(monkeypatch)
    world.put(Kind.MESH, "m", "m", {})
    world.put(Kind.VIRTUAL_NODE, "m", "n", {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]})
    assert world.recompute() == {"batchItemFailures": []}
    assert made == [1]


def test_a_recompute_that_publishes_nothing_makes_no_s3_or_eventbridge_client(aws_env: None) -> None:
    world = make_world(production_clients=True)
    assert world.pipeline.recompute(sample("dynamodb_stream_batch.json"), None) == {"batchItemFailures": []}
    made = set(vars(world.pipeline.clients))
    assert "dynamodb" in made and not {"s3", "events"} & made


def test_importing_the_acm_resolver_loads_no_part_of_the_translator() -> None:
    """`translate.tls` runs `translate/__init__`: the resolver reads its names only when a snapshot names a secret."""
    import subprocess
    import sys
    from pathlib import Path

    layers = Path(__file__).resolve().parents[2] / "layers"
    probe = "import sys, meshplane.pipeline.acm_boto; print(sorted(m for m in sys.modules if 'translate' in m))"
    out = subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(layers)}, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert out.strip() == "[]"
