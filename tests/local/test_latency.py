"""The local runtime adds next to no latency of its own, and says where the time of a chain goes.

The stack polls its stream only every 30 s here, so a record that arrives within seconds
proves the stream poller was woken when the writing function returned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from meshplane.local.harness import LocalStack, start_local_up, stop_local_up
from meshplane.local.trace import TRACE_FILE, read

APP = Path(__file__).parent / "recorder_app" / "template.yaml"
SLOW_STREAM_POLL = 30.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("latency")
    running = start_local_up(state, "--template", str(APP), "--no-ads",
                             "--stream-poll-interval", str(SLOW_STREAM_POLL), "--profile-dir", str(state / "prof"))
    try:
        yield running
    finally:
        stop_local_up(running)


def _stream_keys(stack: LocalStack) -> set[str]:
    s3 = stack.client("s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(stack.stack_name.lower()))
    prefix = f"{stack.stack_name}-StreamRecorder/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    events = [json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read())["event"] for k in keys]
    return {r["dynamodb"]["Keys"]["pk"]["S"] for e in events for r in e["Records"]}


def _put_write_request(stack: LocalStack, pk: str) -> float:
    stack.client("events").put_events(Entries=[{
        "Source": "meshplane.test", "DetailType": "Write",
        "Detail": json.dumps({"write": {"pk": pk, "sk": "1"}}),
    }])
    return time.monotonic()


def _trace_of(stack: LocalStack, function: str) -> list[dict[str, Any]]:
    return [line for line in read(stack.state_dir / TRACE_FILE) if line["function"] == function]


def test_a_write_by_a_function_reaches_the_stream_consumer_without_waiting_for_the_poll_interval(
    stack: LocalStack,
) -> None:
    pk = f"KEEP#wake-{time.monotonic_ns()}"
    sent = _put_write_request(stack, pk)
    while pk not in _stream_keys(stack):
        assert time.monotonic() - sent < 10, f"the stream record waited for the {SLOW_STREAM_POLL:.0f}s poll"
        time.sleep(0.1)


def test_every_invocation_is_traced_on_one_clock_from_record_to_reply(stack: LocalStack) -> None:
    before = time.time()
    pk = f"KEEP#trace-{time.monotonic_ns()}"
    _put_write_request(stack, pk)
    deadline = time.monotonic() + 10
    while not [t for t in _trace_of(stack, "StreamRecorder") if t["called"] >= before]:
        assert time.monotonic() < deadline, "no traced stream invocation"
        time.sleep(0.1)
    queue = next(t for t in _trace_of(stack, "QueueRecorder") if t["called"] >= before)
    stream = next(t for t in _trace_of(stack, "StreamRecorder") if t["called"] >= before)
    for line in (queue, stream):
        assert line["ok"] is True
        assert line["called"] <= line["started"] <= line["finished"] <= line["returned"]
    sent = queue["sources"][0]  # SQS SentTimestamp, in ms
    assert before - 0.01 <= sent <= queue["called"] + 0.01
    written = stream["sources"][0]  # the stream record's ApproximateCreationDateTime
    assert queue["started"] - 0.01 <= written <= queue["finished"] + 0.01  # the queue function wrote it
    assert stream["called"] >= written


def test_with_a_profile_directory_every_invocation_leaves_a_cprofile_dump(stack: LocalStack) -> None:
    import pstats

    invoked = len(_trace_of(stack, "QueueRecorder"))
    _put_write_request(stack, f"NOPE#{time.monotonic_ns()}")
    deadline = time.monotonic() + 10
    while len(_trace_of(stack, "QueueRecorder")) <= invoked:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    dumps = sorted((stack.state_dir / "prof").glob("QueueRecorder-*.prof"))
    assert len(dumps) >= invoked + 1
    stats = pstats.Stats(str(dumps[-1]))
    assert any(name == "handler" for (_, _, name) in stats.stats)  # type: ignore[attr-defined]
