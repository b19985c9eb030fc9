"""X-Ray: with tracing on (in Lambda), recompute, S3 and DynamoDB work shows up as subsegments.

The recorder's emitter is swapped for one that keeps what would be sent to the
daemon; with tracing disabled the same handlers run without any daemon.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Tracer
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.lambda_launcher import LambdaContext as LambdaTraceContext

from . import meshes
from .conftest import LambdaContext, World, make_world


class Captured:
    """An X-Ray emitter that keeps documents instead of sending UDP datagrams."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str | None) -> None:
        pass

    @property
    def ip(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return 2000


def names(document: dict[str, Any]) -> Iterator[str]:
    yield document.get("name", "")
    for child in document.get("subsegments", []):
        yield from names(child)


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> Iterator[Captured]:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "meshplane-recompute")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    captured = Captured()
    previous_emitter, previous_context = xray_recorder._emitter, xray_recorder.context
    # streaming_threshold=0: in Lambda the facade segment is never sent, each subsegment is
    # streamed as it ends (what Powertools configures for an enabled Tracer in Lambda).
    xray_recorder.configure(emitter=captured, context=LambdaTraceContext(), context_missing="LOG_ERROR",
                            streaming_threshold=0)
    global_sdk_config.set_sdk_enabled(True)
    yield captured
    xray_recorder.configure(emitter=previous_emitter, context=previous_context)
    Tracer(disabled=True)  # back to the process-wide "outside Lambda" config for later tests


def test_recompute_is_traced_with_subsegments_for_dynamodb_s3_and_publish(traced: Captured) -> None:
    world: World = make_world(validators=[])
    # Powertools' Tracer keeps one process-wide config, which earlier tests (outside "Lambda")
    # left disabled; a Lambda process starts fresh, so restate what it would decide here.
    world.pipeline.telemetry.tracer = Tracer(disabled=False)
    global_sdk_config.set_sdk_enabled(True)
    meshes.colors(world)
    assert world.pipeline.recompute({"Records": world.stream.drain()}, LambdaContext()) == {"batchItemFailures": []}
    seen = {name for document in traced.documents for name in names(document)}
    assert {"## recompute", "recompute", "dynamodb.load_state", "publish", "s3.put_snapshot",
            "dynamodb.advance_pointer"} <= seen


def test_with_tracing_disabled_the_handlers_run_without_any_daemon(world: World) -> None:
    meshes.colors(world)
    assert world.recompute() == {"batchItemFailures": []}
    assert world.reconcile()["failed"] == []
