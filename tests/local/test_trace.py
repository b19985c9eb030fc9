"""The invocation trace: what each line says about a record's path, and a bounded file."""

from __future__ import annotations

from pathlib import Path

from meshplane.local.invoker import Invocation
from meshplane.local.trace import InvocationTrace, read, source_times


def test_source_times_are_the_sqs_sent_time_and_the_stream_creation_time_in_seconds() -> None:
    sqs = {"Records": [{"attributes": {"SentTimestamp": "1700000000123"}}]}
    stream = {"Records": [{"dynamodb": {"ApproximateCreationDateTime": 1700000000.5}}]}
    assert source_times(sqs) == [1700000000.123]
    assert source_times(stream) == [1700000000.5]
    assert source_times({"detail": {}}) == []  # a scheduled event has no records


def test_a_traced_invoke_records_the_handler_times_and_passes_the_outcome_through(tmp_path: Path) -> None:
    trace = InvocationTrace(tmp_path / "t.jsonl")
    outcome = Invocation(result={"ok": 1}, started=10.0, finished=11.0)
    assert trace.wrap("Fn", lambda _event: outcome)({"Records": []}) is outcome
    trace.close()
    (line,) = read(tmp_path / "t.jsonl")
    assert line["function"] == "Fn" and line["ok"] is True
    assert (line["started"], line["finished"]) == (10.0, 11.0)
    assert line["called"] <= line["returned"]


def test_the_trace_file_moves_aside_once_it_passes_its_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    trace = InvocationTrace(path, rotate_bytes=500)
    for i in range(20):
        trace.write({"n": i, "pad": "x" * 40})
    trace.close()
    kept, older = read(path), read(path.with_name("t.jsonl.1"))
    assert path.stat().st_size <= 500 + 100
    assert [line["n"] for line in older + kept] == list(range(older[0]["n"], 20))  # newest lines, in order
