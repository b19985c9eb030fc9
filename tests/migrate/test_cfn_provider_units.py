"""The provider's guarantees, in process: one answer per request, always; idempotent retries; bounded waits."""

from __future__ import annotations

import time
import urllib.error
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meshplane.api.app import Api
from meshplane.config import Settings
from meshplane.migrate import cfn_response, handlers, inprocess
from meshplane.migrate.cfn_provider import Provider
from meshplane.migrate.cfn_response import Response, ResponseNotDelivered, send
from meshplane.store import create_table
from moto import mock_aws

from .cloudformation import STACK_ID, ResponseServer


@pytest.fixture
def appmesh() -> Iterator[Any]:
    """An appmesh client of the API in process, on in-process moto."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, "state")
        yield inprocess.client(Api.build(Settings(table="state"), dynamodb), "us-east-1")


@pytest.fixture
def responses() -> Iterator[ResponseServer]:
    server = ResponseServer()
    yield server
    server.close()


def event(request_type: str, resource_type: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"RequestType": request_type, "ResponseURL": "http://127.0.0.1:9/unused", "StackId": STACK_ID,
            "RequestId": str(uuid.uuid4()), "LogicalResourceId": "Res", "ResourceType": resource_type,
            "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:p", **properties},
            **extra}


def test_a_repeated_create_request_creates_once(appmesh: Any) -> None:
    provider = Provider(appmesh)
    create = event("Create", "Custom::MeshplaneMesh", {"MeshName": "m"})
    first, again = provider.handle(create), provider.handle(create)  # Lambda's retry of the same request
    assert first.status == again.status == "SUCCESS" and first.physical_id == again.physical_id
    assert first.data == again.data
    assert appmesh.describe_mesh(meshName="m")["mesh"]["metadata"]["version"] == 1


def test_an_existing_resource_is_adopted_only_with_the_same_spec(appmesh: Any) -> None:
    appmesh.create_mesh(meshName="m")  # what `meshplane import` made of the same definitions
    node = {"MeshName": "m", "VirtualNodeName": "n", "Spec": {"Listeners": [{"PortMapping": {
        "Port": "8080", "Protocol": "http"}}]}, "Tags": [{"Key": "team", "Value": "color"}]}
    appmesh.create_virtual_node(meshName="m", virtualNodeName="n",
                                spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]})
    adopted = Provider(appmesh).handle(event("Create", "Custom::MeshplaneVirtualNode", node))
    described = appmesh.describe_virtual_node(meshName="m", virtualNodeName="n")["virtualNode"]
    assert adopted.status == "SUCCESS" and adopted.physical_id == described["metadata"]["arn"]
    assert described["metadata"]["version"] == 1  # adopted as it was
    assert appmesh.list_tags_for_resource(resourceArn=adopted.physical_id)["tags"] == [{"key": "team",
                                                                                         "value": "color"}]
    other = {**node, "Spec": {"Listeners": [{"PortMapping": {"Port": "9090", "Protocol": "http"}}]}}
    conflict = Provider(appmesh).handle(event("Create", "Custom::MeshplaneVirtualNode", other))
    assert conflict.status == "FAILED" and conflict.reason.startswith("ConflictException")


def test_a_mesh_in_use_is_deleted_once_its_children_are_gone_within_the_time_left(appmesh: Any) -> None:
    created = Provider(appmesh).handle(event("Create", "Custom::MeshplaneMesh", {"MeshName": "m"}))
    appmesh.create_virtual_node(meshName="m", virtualNodeName="n", spec={})
    delete = event("Delete", "Custom::MeshplaneMesh", {"MeshName": "m"}, PhysicalResourceId=created.physical_id)

    out_of_time = Provider(appmesh, deadline=lambda: 5.0, sleep=lambda s: pytest.fail("must not wait"))
    refused = out_of_time.handle(delete)
    assert refused.status == "FAILED" and refused.reason.startswith("ResourceInUseException")
    assert refused.physical_id == created.physical_id

    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the child goes while the provider waits
        waits.append(seconds)
        appmesh.delete_virtual_node(meshName="m", virtualNodeName="n")

    assert Provider(appmesh, deadline=lambda: 60.0, sleep=sleep).handle(delete).status == "SUCCESS"
    assert waits == [5.0]
    assert Provider(appmesh).handle(delete).status == "SUCCESS"  # deleted is deleted


def test_the_watchdog_answers_failed_before_lambda_times_out(responses: ResponseServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "TIMEOUT_MARGIN_SECONDS", 0.0)
    monkeypatch.setattr(handlers, "appmesh_client", lambda owner: None)

    def slow(self: Provider, event: dict[str, Any]) -> Response:
        time.sleep(1.5)
        return Response("SUCCESS", "arn:aws:appmesh:us-east-1:123456789012:mesh/late")

    monkeypatch.setattr(Provider, "handle", slow)

    class Context:
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:provider"
        aws_request_id = "r"
        function_name, memory_limit_in_mb = "provider", 512

        def get_remaining_time_in_millis(self) -> int:
            return 300

    request = event("Create", "Custom::MeshplaneMesh", {"MeshName": "m"})
    request["ResponseURL"] = responses.url(request["RequestId"])
    result = handlers.provider(request, Context())
    answer = responses.take(request["RequestId"], timeout=5)
    assert answer["Status"] == "FAILED" and "ran out of time" in answer["Reason"]
    assert result["Sent"] is False  # the late SUCCESS was not sent: CloudFormation got one answer


def test_a_response_is_cut_to_cloudformation_s_limit() -> None:
    document = Response("FAILED", "id", reason="x" * 10_000).document({"StackId": STACK_ID, "RequestId": "r",
                                                                         "LogicalResourceId": "L"})
    import json

    assert len(json.dumps(document).encode()) <= cfn_response.MAX_BYTES
    assert document["Reason"].endswith("...")


def test_sending_retries_server_errors_and_gives_up_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [urllib.error.HTTPError("u", 503, "busy", {}, None), urllib.error.URLError("refused"), None]  # type: ignore[arg-type]
    calls: list[str] = []

    class Answer:
        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *args: Any) -> None:
            return None

        def read(self) -> bytes:
            return b""

    def urlopen(request: Any, timeout: float) -> Answer:
        calls.append(request.get_method())
        outcome = answers.pop(0)
        if outcome is not None:
            raise outcome
        return Answer()

    monkeypatch.setattr(cfn_response.urllib.request, "urlopen", urlopen)
    slept: list[float] = []
    send("https://example.invalid/r", {"Status": "SUCCESS"}, sleep=slept.append)
    assert calls == ["PUT"] * 3 and slept == [1.0, 2.0]

    answers[:] = [urllib.error.HTTPError("u", 403, "expired", {}, None)]  # type: ignore[arg-type]
    with pytest.raises(ResponseNotDelivered, match="answered 403"):
        send("https://example.invalid/r", {"Status": "SUCCESS"}, sleep=slept.append)
    with pytest.raises(ResponseNotDelivered, match="must be http"):
        send("file:///etc/passwd", {"Status": "SUCCESS"})


def test_the_provider_never_puts_a_new_acm_certificate_on_a_listener(appmesh: Any) -> None:
    """No caller to check acm:ExportCertificate for: set through the API, then adopted."""
    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/4c8e1a2b-3d5f-4a6b-8c9d-0e1f2a3b4c5d"
    appmesh.create_mesh(meshName="m")
    listener = {"PortMapping": {"Port": "443", "Protocol": "http"},
                "TLS": {"Mode": "STRICT", "Certificate": {"ACM": {"CertificateArn": certificate}}}}
    properties = {"MeshName": "m", "VirtualGatewayName": "gw", "Spec": {"Listeners": [listener]}}
    refused = Provider(appmesh).handle(event("Create", "Custom::MeshplaneVirtualGateway", properties))
    assert refused.status == "FAILED"
    assert refused.reason.startswith("Spec.listeners[0].tls.certificate.acm.certificateArn: "
                                     f"{certificate}: an ACM listener certificate is set through the API")
    assert appmesh.list_virtual_gateways(meshName="m")["virtualGateways"] == []

    appmesh.create_virtual_gateway(meshName="m", virtualGatewayName="gw", spec={"listeners": [{
        "portMapping": {"port": 443, "protocol": "http"},
        "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": certificate}}}}]})
    adopted = Provider(appmesh).handle(event("Create", "Custom::MeshplaneVirtualGateway", properties))
    assert adopted.status == "SUCCESS"
    # an update that keeps the certificate goes through; one that names another is refused
    update = event("Update", "Custom::MeshplaneVirtualGateway", {**properties, "Spec": {"Listeners": [
        {**listener, "PortMapping": {"Port": "8443", "Protocol": "http"}}]}},
        PhysicalResourceId=adopted.physical_id, OldResourceProperties=properties)
    assert Provider(appmesh).handle(update).status == "SUCCESS"
    other = certificate.replace("4c8e", "9f9f")
    swap = event("Update", "Custom::MeshplaneVirtualGateway", {**properties, "Spec": {"Listeners": [
        {**listener, "TLS": {"Mode": "STRICT", "Certificate": {"ACM": {"CertificateArn": other}}}}]}},
        PhysicalResourceId=adopted.physical_id, OldResourceProperties=properties)
    swapped = Provider(appmesh).handle(swap)
    assert swapped.status == "FAILED" and other in swapped.reason
    gateway = appmesh.describe_virtual_gateway(meshName="m", virtualGatewayName="gw")["virtualGateway"]
    assert gateway["spec"]["listeners"][0]["tls"]["certificate"]["acm"]["certificateArn"] == certificate
