"""Property: duplicated, reordered and concurrent ECS events end in the state of the clean sequence.

Each example gets a fresh moto account.  Concurrency is real: batches run on
threads, each thread being its own "container" (own Pipeline, own metrics), all
sharing one DynamoDB whose item writes are atomic as in AWS (see AtomicWrites).
Failed records are redelivered, as SQS does, until none is left.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics
from hypothesis import given, settings
from hypothesis import strategies as st
from meshplane.pipeline.runtime import Pipeline
from meshplane.pipeline.telemetry import Telemetry
from meshplane.store.endpoints import MAX_VERSION, EcsOrder, NodeRef, Outcome

from . import meshes
from .conftest import LambdaContext, World, make_world, sample, sqs_batch

LIFECYCLE = (("PROVISIONING", "RUNNING"), ("RUNNING", "RUNNING"), ("DEACTIVATING", "STOPPED"), ("STOPPED", "STOPPED"))


def task_events(prefix: str, task: int, steps: int, address: str, service: str,
                base: int = 0) -> list[dict[str, Any]]:
    """The first `steps` state changes of one Fargate task of `service`, versions base+1..base+steps."""
    events = []
    for step, (last, desired) in enumerate(LIFECYCLE[:steps], start=1):
        version = base + step
        event = copy.deepcopy(sample("ecs_task_running_fargate.json"))
        detail = event["detail"]
        detail["taskArn"] = f"arn:aws:ecs:us-east-1:123456789012:task/colors/{prefix}task{task:02d}"
        detail.update(lastStatus=last, desiredStatus=desired, version=version, group=f"service:{service}",
                      updatedAt=f"2026-11-25T10:00:{step:02d}.000Z")
        detail["attachments"][0]["details"][-1]["value"] = address
        event["id"] = f"{service}-{prefix}task{task:02d}-v{step}"
        events.append(event)
    return events


def final_state(world: World, node: str, prefix: str) -> list[tuple[str, str]]:
    return [(e.instance_id, e.address) for e in world.endpoints("colors", node) if e.instance_id.startswith(prefix)]


def deliver(world: World, batches: Sequence[Sequence[dict[str, Any]]], threads: int) -> None:
    """Run batches on `threads` concurrent containers, redelivering failed records until all succeed."""
    queue: list[list[dict[str, Any]]] = [list(b) for b in batches]
    lock = threading.Lock()

    def container() -> None:
        telemetry = Telemetry(Logger(service="prop", stream=SINK), Tracer(disabled=True),
                              EphemeralMetrics(namespace="MeshplaneTest"))
        pipeline = Pipeline(world.settings, world.clients, world.pipeline.parts, telemetry)
        while True:
            with lock:
                if not queue:
                    return
                batch = queue.pop(0)
            event = sqs_batch(batch)
            result = pipeline.ecs_events(event, LambdaContext())
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            retry = [e for e, r in zip(batch, event["Records"], strict=True) if r["messageId"] in failed]
            if retry:
                with lock:
                    queue.append(retry)

    workers = [threading.Thread(target=container) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(w.is_alive() for w in workers)


class _Sink:
    """Keeps the containers' log lines, to explain a failing example."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


SINK = _Sink()


lifecycles = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3)
# Where a task's versions start: small, or just below a power of ten (where string forms change length), or anywhere.
version_bases = st.one_of(
    st.integers(min_value=0, max_value=10),
    st.sampled_from([10**k - offset for k in range(1, 19) for offset in range(1, len(LIFECYCLE) + 1)]),
    st.integers(min_value=0, max_value=MAX_VERSION - len(LIFECYCLE)),
)


def test_duplicated_shuffled_concurrent_events_end_like_the_clean_sequence(aws_env: None) -> None:
    """One account for all examples; each example uses its own task ids.

    The clean sequence is applied once, in order, to tasks of `colors-red`; the same
    events, duplicated, shuffled, batched and run concurrently, to `colors-blue`.
    """
    world = make_world(atomic=True)
    meshes.colors(world)
    examples = iter(range(10_000))

    @settings(max_examples=20, deadline=None)
    @given(data=st.data(), steps=lifecycles, base=version_bases)
    def example(data: Any, steps: list[int], base: int) -> None:
        number = next(examples)
        prefix = f"x{number}-"
        # Addresses are unique per example too: one address:port is one endpoint (see EndpointStore.endpoints).
        subnet = f"10.{number // 250}.{number % 250}"

        def events(service: str) -> list[dict[str, Any]]:
            return [e for task, n in enumerate(steps)
                    for e in task_events(prefix, task, n, f"{subnet}.{task + 1}", service, base)]

        clean = events("colors-red")
        result = world.ecs(clean)
        reasons = [line.get("reason") for line in world.logs() if prefix in str(line) and "reason" in line]
        assert result == {"batchItemFailures": []}, reasons
        expected = final_state(world, "colors-red", prefix)
        assert expected == [(f"{prefix}task{t:02d}", f"{subnet}.{t + 1}") for t, n in enumerate(steps) if n == 2]

        mixed = events("colors-blue")
        duplicated = mixed + data.draw(st.lists(st.sampled_from(mixed), max_size=len(mixed)), label="duplicates")
        shuffled = data.draw(st.permutations(duplicated), label="delivery order")
        size = data.draw(st.integers(min_value=1, max_value=4), label="batch size")
        threads = data.draw(st.integers(min_value=1, max_value=3), label="threads")
        deliver(world, [shuffled[i:i + size] for i in range(0, len(shuffled), size)], threads)

        actual = final_state(world, "colors-blue", prefix)
        assert actual == expected, "".join(line for line in SINK.lines if prefix in line)

    example()


timestamps = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda t: t.isoformat(timespec="milliseconds") + "Z")
orders = st.builds(EcsOrder, st.one_of(version_bases, st.integers(0, 30)), timestamps)


def test_the_stored_order_of_a_task_is_the_greatest_one_written_numerically(aws_env: None) -> None:
    """Any sequence of writes to one task, some starting from an item older code wrote: a write lands
    exactly when it is greater than every order before it (the legacy string stands in for its own order)."""
    world = make_world()
    store = world.pipeline.endpoints
    ref = NodeRef("colors", "colors-blue")
    examples = iter(range(10_000))

    @settings(max_examples=40, deadline=None)
    @given(writes=st.lists(orders, min_size=1, max_size=8),
           legacy=st.one_of(st.none(), st.builds(EcsOrder, st.integers(0, 10**12 - 1), timestamps)))
    def example(writes: list[EcsOrder], legacy: EcsOrder | None) -> None:
        instance = f"t{next(examples)}"
        highest = legacy
        if legacy is not None:  # as older code stored it: the padded string alone
            world.clients.dynamodb.put_item(TableName=world.settings.table, Item={
                "pk": {"S": "EP#colors#colors-blue"}, "sk": {"S": f"I#ecs#{instance}"},
                "order": {"S": legacy.legacy_key}, "present": {"BOOL": False}})
        for order in writes:
            outcome = store.apply_ecs(ref, None, instance_id=instance, order=order)
            expected = Outcome.APPLIED if highest is None or order > highest else Outcome.STALE
            assert outcome is expected, (order, highest)
            highest = order if highest is None else max(highest, order)
        (item,) = [i for i in store.ecs_items(ref) if i.instance_id == instance]
        assert item.order == highest

    example()
