"""Every App Mesh error class reaches boto3 as the modelled exception, with a message naming the problem."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from meshplane.api.app import Api
from meshplane.api.http import serve_in_thread
from meshplane.config import Settings

from .conftest import CREDENTIALS
from .specs import gateway_route, gateway_spec, http_route, node_spec, router_spec


def _raises(client: Any, name: str, call: Callable[[], Any], says: str) -> None:
    with pytest.raises(getattr(client.exceptions, name)) as info:
        call()
    assert says in info.value.response["Error"]["Message"]


# --- BadRequest ---------------------------------------------------------------------------


def test_out_of_range_value_is_bad_request_naming_the_field(stack: Any, mesh: str) -> None:
    loose = stack.appmesh(parameter_validation=False)
    spec = node_spec(70000)
    _raises(loose, "BadRequestException", lambda: loose.create_virtual_node(
        meshName=mesh, virtualNodeName="n", spec=spec), "spec.listeners[0].portMapping.port")


def test_wrong_type_is_bad_request_naming_the_field(stack: Any, mesh: str) -> None:
    loose = stack.appmesh(parameter_validation=False)
    spec = {"listeners": [{"portMapping": {"port": "80", "protocol": "http"}}]}
    _raises(loose, "BadRequestException", lambda: loose.create_virtual_node(
        meshName=mesh, virtualNodeName="n", spec=spec), "spec.listeners[0].portMapping.port")


def test_unknown_field_is_bad_request_naming_the_field(stack: Any, mesh: str) -> None:
    url = f"{stack.api_endpoint}/v20190125/meshes/{mesh}/virtualNodes"
    response = requests.put(url, json={"virtualNodeName": "n", "spec": {"listenerz": []}}, timeout=10)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert "spec.listenerz" in response.json()["message"]


def test_malformed_json_is_bad_request(stack: Any) -> None:
    response = requests.put(f"{stack.api_endpoint}/v20190125/meshes", data=b'{"meshName": ', timeout=10)
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["message"]


def test_non_integer_limit_is_bad_request(stack: Any) -> None:
    response = requests.get(f"{stack.api_endpoint}/v20190125/meshes?limit=ten", timeout=10)
    assert response.status_code == 400
    assert response.json()["message"].startswith("limit:")


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (http_route(("n", 1), prefix="/aws-appmesh/x"), "reserved"),
        (http_route(("n", 1), prefix="api"), "must start with '/'"),
        (http_route(("n", 0)), "weights must add up"),
        ({"grpcRoute": {"match": {"methodName": "Get"}, "action": {"weightedTargets": [
            {"virtualNode": "n", "weight": 1}]}}}, "methodName: requires serviceName"),
        ({**http_route(("n", 1)), **{"tcpRoute": {"action": {"weightedTargets": [
            {"virtualNode": "n", "weight": 1}]}}}}, "exactly one of httpRoute"),
    ],
)
def test_route_rules_are_bad_requests(appmesh: Any, mesh: str, spec: dict[str, Any], says: str) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80))
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec())
    _raises(appmesh, "BadRequestException", lambda: appmesh.create_route(
        meshName=mesh, virtualRouterName="r", routeName="x", spec=spec), says)


def test_weighted_target_port_is_required_when_the_node_has_several_listeners(appmesh: Any, mesh: str) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80, 81))
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec())
    _raises(appmesh, "BadRequestException", lambda: appmesh.create_route(
        meshName=mesh, virtualRouterName="r", routeName="x", spec=http_route(("n", 1))), "weightedTargets[0].port")


def test_a_router_with_several_listeners_needs_the_port_in_every_route_match(appmesh: Any, mesh: str) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80))
    two = {"listeners": [*router_spec(8080)["listeners"], *router_spec(8081)["listeners"]]}
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=two)
    _raises(appmesh, "BadRequestException", lambda: appmesh.create_route(
        meshName=mesh, virtualRouterName="r", routeName="x", spec=http_route(("n", 1))), "port match criteria")
    spec = http_route(("n", 1))
    spec["httpRoute"]["match"]["port"] = 8081
    appmesh.create_route(meshName=mesh, virtualRouterName="r", routeName="x", spec=spec)


def test_a_route_match_port_must_be_a_listener_port_of_its_router(appmesh: Any, mesh: str) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80))
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(8080))
    spec = http_route(("n", 1))
    spec["httpRoute"]["match"]["port"] = 9999
    _raises(appmesh, "BadRequestException", lambda: appmesh.create_route(
        meshName=mesh, virtualRouterName="r", routeName="x", spec=spec), "9999 is not a listener port")


def test_a_gateway_with_several_listeners_needs_the_port_in_every_gateway_route_match(appmesh: Any, mesh: str
                                                                                      ) -> None:  # fmt: skip
    appmesh.create_virtual_service(meshName=mesh, virtualServiceName="svc.local", spec={})
    two = {"listeners": [*gateway_spec(8080)["listeners"], *gateway_spec(8081)["listeners"]]}
    appmesh.create_virtual_gateway(meshName=mesh, virtualGatewayName="g", spec=two)
    spec = gateway_route("svc.local")
    _raises(appmesh, "BadRequestException", lambda: appmesh.create_gateway_route(
        meshName=mesh, virtualGatewayName="g", gatewayRouteName="x", spec=spec), "port match criteria")
    spec["httpRoute"]["match"]["port"] = 8082
    _raises(appmesh, "BadRequestException", lambda: appmesh.create_gateway_route(
        meshName=mesh, virtualGatewayName="g", gatewayRouteName="x", spec=spec), "8082 is not a listener port")
    spec["httpRoute"]["match"]["port"] = 8081
    appmesh.create_gateway_route(meshName=mesh, virtualGatewayName="g", gatewayRouteName="x", spec=spec)


def test_connection_pool_must_match_the_listener_protocol(appmesh: Any, mesh: str) -> None:
    spec = {"listeners": [{"portMapping": {"port": 80, "protocol": "http"},
                           "connectionPool": {"tcp": {"maxConnections": 5}}}]}
    _raises(appmesh, "BadRequestException", lambda: appmesh.create_virtual_node(
        meshName=mesh, virtualNodeName="n", spec=spec), "spec.listeners[0].connectionPool")


# --- NotFound, Conflict, Forbidden ------------------------------------------------------------


def test_missing_resources_are_not_found(appmesh: Any, mesh: str) -> None:
    _raises(appmesh, "NotFoundException", lambda: appmesh.describe_mesh(meshName=mesh + "-nope"), "does not exist")
    _raises(appmesh, "NotFoundException", lambda: appmesh.describe_virtual_node(
        meshName=mesh, virtualNodeName="nope"), "'nope'")
    _raises(appmesh, "NotFoundException", lambda: appmesh.list_routes(
        meshName=mesh, virtualRouterName="nope"), "virtualRouter 'nope'")
    _raises(appmesh, "NotFoundException", lambda: appmesh.create_virtual_node(
        meshName=mesh + "-nope", virtualNodeName="n", spec={}), "mesh")
    _raises(appmesh, "NotFoundException", lambda: appmesh.list_tags_for_resource(
        resourceArn=f"arn:aws:appmesh:us-east-1:123456789012:mesh/{mesh}/virtualNode/nope"), "does not exist")


def test_creating_an_existing_name_is_a_conflict(appmesh: Any, mesh: str) -> None:
    _raises(appmesh, "ConflictException", lambda: appmesh.create_mesh(meshName=mesh), "already exists")


def test_reusing_a_client_token_for_a_different_request_is_a_conflict(appmesh: Any, mesh: str) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80), clientToken="tok")
    _raises(appmesh, "ConflictException", lambda: appmesh.create_virtual_node(
        meshName=mesh, virtualNodeName="n", spec=node_spec(81), clientToken="tok"), "client token")
    appmesh.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(82), clientToken="upd")
    _raises(appmesh, "ConflictException", lambda: appmesh.update_virtual_node(
        meshName=mesh, virtualNodeName="n", spec=node_spec(83), clientToken="upd"), "client token")


def test_another_accounts_mesh_owner_is_forbidden(appmesh: Any, mesh: str) -> None:
    _raises(appmesh, "ForbiddenException", lambda: appmesh.describe_mesh(
        meshName=mesh, meshOwner="999999999999"), "meshOwner")


# --- ResourceInUse: the reference rules -----------------------------------------------------------


def test_a_mesh_must_be_empty_before_it_is_deleted(appmesh: Any, mesh: str) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec={})
    _raises(appmesh, "ResourceInUseException", lambda: appmesh.delete_mesh(meshName=mesh), "not empty")
    appmesh.delete_virtual_node(meshName=mesh, virtualNodeName="n")
    appmesh.delete_mesh(meshName=mesh)


@pytest.mark.parametrize("provider", ["virtualNode", "virtualRouter"])
def test_a_provider_cannot_be_deleted_while_a_virtual_service_names_it(
    appmesh: Any, mesh: str, provider: str
) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="p", spec={})
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="p", spec=router_spec())
    spec = {"provider": {provider: {f"{provider}Name": "p"}}}
    appmesh.create_virtual_service(meshName=mesh, virtualServiceName="svc", spec=spec)
    delete = {
        "virtualNode": lambda: appmesh.delete_virtual_node(meshName=mesh, virtualNodeName="p"),
        "virtualRouter": lambda: appmesh.delete_virtual_router(meshName=mesh, virtualRouterName="p"),
    }[provider]
    _raises(appmesh, "ResourceInUseException", delete, "in use")
    appmesh.update_virtual_service(meshName=mesh, virtualServiceName="svc", spec={})  # drops the reference
    delete()


def test_a_router_cannot_be_deleted_while_it_has_routes(appmesh: Any, mesh: str) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80))
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec())
    appmesh.create_route(meshName=mesh, virtualRouterName="r", routeName="x", spec=http_route(("n", 1)))
    _raises(appmesh, "ResourceInUseException", lambda: appmesh.delete_virtual_router(
        meshName=mesh, virtualRouterName="r"), "route")
    _raises(appmesh, "ResourceInUseException", lambda: appmesh.delete_virtual_node(
        meshName=mesh, virtualNodeName="n"), "in use")
    appmesh.delete_route(meshName=mesh, virtualRouterName="r", routeName="x")
    appmesh.delete_virtual_router(meshName=mesh, virtualRouterName="r")
    appmesh.delete_virtual_node(meshName=mesh, virtualNodeName="n")


def test_gateway_and_targeted_service_cannot_be_deleted_while_a_gateway_route_exists(appmesh: Any, mesh: str) -> None:
    appmesh.create_virtual_service(meshName=mesh, virtualServiceName="svc", spec={})
    appmesh.create_virtual_gateway(meshName=mesh, virtualGatewayName="gw", spec=gateway_spec())
    appmesh.create_gateway_route(
        meshName=mesh, virtualGatewayName="gw", gatewayRouteName="g", spec=gateway_route("svc")
    )
    _raises(appmesh, "ResourceInUseException", lambda: appmesh.delete_virtual_gateway(
        meshName=mesh, virtualGatewayName="gw"), "gateway route")
    _raises(appmesh, "ResourceInUseException", lambda: appmesh.delete_virtual_service(
        meshName=mesh, virtualServiceName="svc"), "in use")
    appmesh.delete_gateway_route(meshName=mesh, virtualGatewayName="gw", gatewayRouteName="g")
    appmesh.delete_virtual_service(meshName=mesh, virtualServiceName="svc")
    appmesh.delete_virtual_gateway(meshName=mesh, virtualGatewayName="gw")


def test_references_must_name_existing_resources(appmesh: Any, mesh: str) -> None:
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec())
    _raises(appmesh, "NotFoundException", lambda: appmesh.create_route(
        meshName=mesh, virtualRouterName="r", routeName="x", spec=http_route(("ghost", 1))), "'ghost'")
    _raises(appmesh, "NotFoundException", lambda: appmesh.create_virtual_service(
        meshName=mesh, virtualServiceName="s", spec={"provider": {"virtualNode": {"virtualNodeName": "ghost"}}}),
        "'ghost'")
    appmesh.create_virtual_gateway(meshName=mesh, virtualGatewayName="gw", spec=gateway_spec())
    _raises(appmesh, "NotFoundException", lambda: appmesh.create_gateway_route(
        meshName=mesh, virtualGatewayName="gw", gatewayRouteName="g", spec=gateway_route("ghost")), "'ghost'")


# --- quotas and tags --------------------------------------------------------------------------


def test_a_fourth_gateway_exceeds_the_default_quota(appmesh: Any, mesh: str) -> None:
    for i in range(3):
        appmesh.create_virtual_gateway(meshName=mesh, virtualGatewayName=f"gw{i}", spec=gateway_spec())
    _raises(appmesh, "LimitExceededException", lambda: appmesh.create_virtual_gateway(
        meshName=mesh, virtualGatewayName="gw3", spec=gateway_spec()), "maximum of 3")
    appmesh.delete_virtual_gateway(meshName=mesh, virtualGatewayName="gw0")
    appmesh.create_virtual_gateway(meshName=mesh, virtualGatewayName="gw3", spec=gateway_spec())


def test_more_than_50_tags_is_too_many_tags(stack: Any, appmesh: Any, mesh: str) -> None:
    arn = appmesh.describe_mesh(meshName=mesh)["mesh"]["metadata"]["arn"]
    appmesh.tag_resource(resourceArn=arn, tags=[{"key": f"a{i}", "value": "v"} for i in range(30)])
    _raises(appmesh, "TooManyTagsException", lambda: appmesh.tag_resource(
        resourceArn=arn, tags=[{"key": f"b{i}", "value": "v"} for i in range(21)]), "50")
    assert len(appmesh.list_tags_for_resource(resourceArn=arn, limit=50)["tags"]) == 30
    loose = stack.appmesh(parameter_validation=False)
    _raises(loose, "TooManyTagsException", lambda: loose.create_virtual_node(
        meshName=mesh, virtualNodeName="n", spec={}, tags=[{"key": f"k{i}", "value": "v"} for i in range(51)]), "50")


# --- TooManyRequests and InternalServerError: a DynamoDB endpoint that refuses ---------------------


class _RefusingDynamoDB(BaseHTTPRequestHandler):
    """Answers every DynamoDB call with the error named by the server's `error` attribute."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, error_type = self.server.error  # type: ignore[attr-defined]
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{error_type}", "message": "no"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def refusing_api() -> Iterator[tuple[Any, ThreadingHTTPServer]]:
    dynamo = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingDynamoDB)
    threading.Thread(target=dynamo.serve_forever, daemon=True).start()
    client = boto3.client(
        "dynamodb", endpoint_url=f"http://127.0.0.1:{dynamo.server_address[1]}",
        config=Config(retries={"max_attempts": 1}), **CREDENTIALS,
    )
    api_server, _ = serve_in_thread(Api.build(Settings(table="t"), client))
    appmesh = boto3.client(
        "appmesh", endpoint_url=f"http://127.0.0.1:{api_server.server_address[1]}",
        config=Config(retries={"max_attempts": 1}), **CREDENTIALS,
    )
    yield appmesh, dynamo
    for server in (api_server, dynamo):
        server.shutdown()
        server.server_close()


def test_dynamodb_throttling_is_too_many_requests(refusing_api: tuple[Any, Any]) -> None:
    appmesh, dynamo = refusing_api
    dynamo.error = (400, "ProvisionedThroughputExceededException")
    _raises(appmesh, "TooManyRequestsException", lambda: appmesh.describe_mesh(meshName="m"), "retry")


def test_dynamodb_failure_is_internal_server_error(refusing_api: tuple[Any, Any]) -> None:
    appmesh, dynamo = refusing_api
    dynamo.error = (500, "InternalServerError")
    _raises(appmesh, "InternalServerErrorException", lambda: appmesh.list_meshes(), "retry")
