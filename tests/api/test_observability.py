"""The API Lambda logs, counts and times every request with Powertools, like the pipeline handlers.

`functions/api/app.handler` is invoked with API Gateway REST proxy events against
in-process moto; what it prints to stdout (where Lambda ships it to CloudWatch)
is read back as JSON log lines and EMF documents.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from meshplane.api import runtime
from meshplane.api.app import Api
from meshplane.api.http import serve_in_thread
from meshplane.config import Settings
from meshplane.pipeline.telemetry import Telemetry
from meshplane.store import create_table
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
NAMESPACE = "MeshplaneApiTest"
Invoke = Callable[[str, str, dict[str, Any] | None], tuple[str, dict[str, Any]]]


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context`, enough for Powertools."""

    function_name: str = "meshplane-api"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:meshplane-api"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def load_handler_module() -> ModuleType:
    """`functions/api/app.py` as Lambda loads it, under a name that cannot clash with other handlers."""
    spec = importlib.util.spec_from_file_location(f"api_app_{uuid.uuid4().hex[:8]}", ROOT / "functions/api/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rest_event(method: str, path: str, body: dict[str, Any] | None, request_id: str) -> dict[str, Any]:
    """An API Gateway REST API (v1) proxy event for the `/{proxy+}` ANY method of template.yaml."""
    headers = {"Content-Type": "application/x-amz-json-1.1", "Host": "abc123.execute-api.us-east-1.amazonaws.com",
               "User-Agent": "Boto3/1.40 md/Botocore#1.40",
               "X-Amzn-Trace-Id": "Root=1-67891233-abcdef012345678912345678"}
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3", "resourcePath": "/{proxy+}", "httpMethod": method, "path": f"/v1{path}",
            "accountId": "123456789012", "stage": "v1", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123", "protocol": "HTTP/1.1", "requestId": request_id, "extendedRequestId": "Xyz=",
            "requestTime": "09/Apr/2025:12:34:56 +0000", "requestTimeEpoch": 1744202096000,
            "identity": {"sourceIp": "203.0.113.7", "userArn": "arn:aws:iam::123456789012:user/ops",
                         "accountId": "123456789012", "caller": "AIDAEXAMPLE", "user": "AIDAEXAMPLE"},
        },
        "body": None if body is None else json.dumps(body), "isBase64Encoded": False,
    }


def stdout_documents(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(JSON log lines, EMF documents) among captured stdout lines."""
    logs, emf = [], []
    for line in text.splitlines():
        if line.startswith("{"):
            doc = json.loads(line)
            (emf if "_aws" in doc else logs).append(doc)
    return logs, emf


def metric_docs(emf: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [doc for doc in emf
            if any(m["Name"] == name for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"])]


def dimension_names(doc: dict[str, Any]) -> list[set[str]]:
    return [set(dims) for d in doc["_aws"]["CloudWatchMetrics"] for dims in d["Dimensions"]]


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Lambda's environment for the API function; Powertools keeps one logger per service name: one per test."""
    name = f"meshplane-api-test-{uuid.uuid4().hex[:8]}"
    table = f"meshplane-obs-{uuid.uuid4().hex[:8]}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION, "MESHPLANE_TABLE": table, "POWERTOOLS_SERVICE_NAME": name,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE, "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    runtime.lambda_api.cache_clear()
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), table)
        yield name
    runtime.lambda_api.cache_clear()


@pytest.fixture
def invoke(service: str) -> Invoke:
    handler = load_handler_module().handler

    def call(method: str, path: str, body: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        request_id = str(uuid.uuid4())
        return request_id, handler(rest_event(method, path, body, request_id), LambdaContext())

    return call


def test_each_request_logs_one_json_line_with_operation_status_and_the_api_gateway_request_id(
        invoke: Invoke, service: str, capsys: pytest.CaptureFixture[str]) -> None:
    mesh, token = f"obs-{uuid.uuid4().hex[:8]}", f"secret-{uuid.uuid4()}"[:36]  # App Mesh caps tokens at 36
    created_id, created = invoke("PUT", "/v20190125/meshes", {"meshName": mesh, "clientToken": token})
    described_id, described = invoke("GET", f"/v20190125/meshes/{mesh}", None)
    missing_id, missing = invoke("GET", f"/v20190125/meshes/{mesh}-absent", None)
    assert (created["statusCode"], described["statusCode"], missing["statusCode"]) == (200, 200, 404)

    out = capsys.readouterr().out
    logs, _ = stdout_documents(out)
    requests = [line for line in logs if "operation" in line]
    assert [(r["operation"], r["status"], r.get("errorType"), r["correlation_id"]) for r in requests] == [
        ("CreateMesh", 200, None, created_id),
        ("DescribeMesh", 200, None, described_id),
        ("DescribeMesh", 404, "NotFoundException", missing_id),
    ]
    for line in requests:
        assert line["service"] == service
        assert line["function_name"] == "meshplane-api"  # the Lambda context is injected
        assert line["level"] == "INFO" and line["latencyMs"] > 0
    assert token not in out  # request bodies stay out of the logs


def test_requests_and_latency_are_emf_by_operation_and_errors_by_operation_and_error_type(
        invoke: Invoke, service: str, capsys: pytest.CaptureFixture[str]) -> None:
    mesh = f"obs-{uuid.uuid4().hex[:8]}"
    invoke("PUT", "/v20190125/meshes", {"meshName": mesh})
    invoke("GET", f"/v20190125/meshes/{mesh}", None)
    invoke("GET", f"/v20190125/meshes/{mesh}-absent", None)

    _, emf = stdout_documents(capsys.readouterr().out)
    requests = metric_docs(emf, "Requests")
    assert [(d["Operation"], d["Requests"]) for d in requests] == [
        ("CreateMesh", [1.0]), ("DescribeMesh", [1.0]), ("DescribeMesh", [1.0])]
    for doc in requests:
        assert doc["service"] == service
        assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE
        assert dimension_names(doc) == [{"service", "Operation"}]
        units = {m["Name"]: m["Unit"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        assert units == {"Requests": "Count", "Latency": "Milliseconds"}
        [latency] = doc["Latency"]
        assert latency > 0

    errors = metric_docs(emf, "Errors")
    assert [(d["Operation"], d["ErrorType"], d["Errors"], d["service"]) for d in errors] == [
        ("DescribeMesh", "NotFoundException", [1.0], service)]
    assert dimension_names(errors[0]) == [{"service", "Operation", "ErrorType"}]
    assert errors[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE


def test_an_unrouted_path_is_counted_under_one_fixed_operation_not_its_path(
        invoke: Invoke, capsys: pytest.CaptureFixture[str]) -> None:
    _, response = invoke("GET", f"/no-such-route/{uuid.uuid4().hex}", None)
    assert response["statusCode"] == 404
    _, emf = stdout_documents(capsys.readouterr().out)
    assert [(d["Operation"], d["ErrorType"]) for d in metric_docs(emf, "Errors")] == [
        ("UnknownOperation", "NotFoundException")]


def test_the_local_server_logs_and_counts_without_a_lambda_context(
        service: str, capsys: pytest.CaptureFixture[str]) -> None:
    api = Api.build(Settings.from_env(), boto3.client("dynamodb"), telemetry=Telemetry.from_env())
    server, thread = serve_in_thread(api)
    try:
        host, port = server.server_address[:2]
        mesh = f"obs-{uuid.uuid4().hex[:8]}"
        request = urllib.request.Request(f"http://{host}:{port}/v20190125/meshes", method="PUT",
                                         data=json.dumps({"meshName": mesh}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    logs, emf = stdout_documents(capsys.readouterr().out)
    [line] = [line for line in logs if line.get("operation") == "CreateMesh"]
    assert line["status"] == 200 and uuid.UUID(line["correlation_id"])
    assert "function_name" not in line
    assert [d["Operation"] for d in metric_docs(emf, "Requests")] == ["CreateMesh"]


def test_an_unexpected_failure_is_logged_at_error_with_its_traceback_and_counted_as_internal(
        service: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MESHPLANE_TABLE", f"meshplane-missing-{uuid.uuid4().hex[:8]}")  # DynamoDB fails every call
    request_id = str(uuid.uuid4())
    event = rest_event("GET", "/v20190125/meshes", None, request_id)
    response = load_handler_module().handler(event, LambdaContext())
    assert response["statusCode"] == 500

    logs, emf = stdout_documents(capsys.readouterr().out)
    [line] = [line for line in logs if line.get("operation") == "ListMeshes"]
    assert (line["level"], line["status"], line["errorType"]) == ("ERROR", 500, "InternalServerErrorException")
    assert line["correlation_id"] == request_id and "Traceback" in line["exception"]
    assert [(d["Operation"], d["ErrorType"]) for d in metric_docs(emf, "Errors")] == [
        ("ListMeshes", "InternalServerErrorException")]
