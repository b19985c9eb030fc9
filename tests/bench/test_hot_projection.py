"""The hot suite's AWS projection counts what boto3 spends on each store call, since its stores are in memory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import suite_hot  # noqa: E402

CLIENT_CPU = {"dynamodb:PutItem": 1.0, "s3:PutObject": 1.5, "dynamodb:Query": 0.5}


def test_a_shard_is_projected_with_its_cpu_its_calls_client_cpu_and_their_latencies() -> None:
    run = {"cpu": 0.2, "stand_in_cpu": 0.05, "calls": {"dynamodb:PutItem": 100, "s3:PutObject": 200,
                                                        "dynamodb:Query": 4},
           "pooled": {"dynamodb:PutItem": 100, "s3:PutObject": 200}}
    cpu = 150 + 100 * 1.0 + 200 * 1.5 + 4 * 0.5  # the stand-ins' own CPU replaced; one vCPU: client CPU adds up
    latency = 4 * suite_hot.LATENCY_MS["dynamodb"] + (100 * 5.0 + 200 * 30.0) / 25  # the pool's calls overlap
    assert suite_hot._shard_ms(run, 25, CLIENT_CPU) == pytest.approx(cpu + latency)


def test_a_call_whose_client_cpu_was_not_measured_is_refused_not_counted_free() -> None:
    with pytest.raises(ValueError, match="events:PutEvents"):
        suite_hot._client_ms({"events:PutEvents": 1}, CLIENT_CPU)


def test_the_dispatch_sends_its_shard_batches_at_once_and_makes_its_other_calls_one_after_another() -> None:
    dispatch = {"cpu": 0.1, "stand_in_cpu": 0.02, "calls": {"dynamodb:Query": 18, "sqs:SendMessageBatch": 10}}
    client = {**CLIENT_CPU, "sqs:SendMessageBatch": 2.0}
    cpu = (80 + 18 * 0.5 + 10 * 2.0) / suite_hot.DISPATCH_CPU_SHARE  # the recompute function's share of a vCPU
    waits = 18 * suite_hot.LATENCY_MS["dynamodb"] + -(-10 // suite_hot.SEND_THREADS) * suite_hot.LATENCY_MS["sqs"]
    assert suite_hot._dispatch_ms(dispatch, client) == pytest.approx(cpu + waits)
