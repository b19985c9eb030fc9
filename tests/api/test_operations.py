"""Every App Mesh operation, driven through the unmodified boto3 client against the local server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import botocore.loaders

from .specs import gateway_route, gateway_spec, http_route, node_spec, router_spec

ACCOUNT = "123456789012"


def test_all_38_operations_work_through_boto3(stack: Any, unique: Callable[[str], str]) -> None:
    called: set[str] = set()
    client = stack.appmesh()
    client.meta.events.register("after-call.app-mesh", lambda model, **_: called.add(model.name))
    mesh, node, svc, router, gw = unique("ops"), "node-a", "svc.ops.local", "router-a", "gw-a"

    created = client.create_mesh(meshName=mesh, spec={"egressFilter": {"type": "ALLOW_ALL"}})["mesh"]
    assert created["metadata"]["arn"] == f"arn:aws:appmesh:us-east-1:{ACCOUNT}:mesh/{mesh}"
    assert isinstance(created["metadata"]["createdAt"], datetime)
    assert client.describe_mesh(meshName=mesh)["mesh"]["spec"] == {"egressFilter": {"type": "ALLOW_ALL"}}
    assert client.update_mesh(meshName=mesh, spec={})["mesh"]["metadata"]["version"] == 2
    assert mesh in [m["meshName"] for m in _all(client.list_meshes, "meshes")]

    vn = client.create_virtual_node(meshName=mesh, virtualNodeName=node, spec=node_spec(8080))["virtualNode"]
    assert vn["metadata"]["arn"].endswith(f"mesh/{mesh}/virtualNode/{node}")
    assert client.describe_virtual_node(meshName=mesh, virtualNodeName=node)["virtualNode"]["spec"] == node_spec(8080)
    updated = client.update_virtual_node(meshName=mesh, virtualNodeName=node, spec=node_spec(8080, 9090))
    assert updated["virtualNode"]["metadata"]["version"] == 2
    assert [n["virtualNodeName"] for n in client.list_virtual_nodes(meshName=mesh)["virtualNodes"]] == [node]

    vr = client.create_virtual_router(meshName=mesh, virtualRouterName=router, spec=router_spec())["virtualRouter"]
    assert vr["status"] == {"status": "ACTIVE"}
    client.describe_virtual_router(meshName=mesh, virtualRouterName=router)
    client.update_virtual_router(meshName=mesh, virtualRouterName=router, spec=router_spec(8081))
    assert client.list_virtual_routers(meshName=mesh)["virtualRouters"][0]["version"] == 2

    route = client.create_route(
        meshName=mesh, virtualRouterName=router, routeName="r", spec=_with_port(http_route((node, 1)), 8080)
    )["route"]
    assert route["metadata"]["arn"].endswith(f"mesh/{mesh}/virtualRouter/{router}/route/r")
    client.describe_route(meshName=mesh, virtualRouterName=router, routeName="r")
    client.update_route(
        meshName=mesh, virtualRouterName=router, routeName="r", spec=_with_port(http_route((node, 5)), 9090)
    )
    refs = client.list_routes(meshName=mesh, virtualRouterName=router)["routes"]
    assert [(r["routeName"], r["virtualRouterName"], r["version"]) for r in refs] == [("r", router, 2)]

    provider = {"provider": {"virtualRouter": {"virtualRouterName": router}}}
    client.create_virtual_service(meshName=mesh, virtualServiceName=svc, spec=provider)
    assert client.describe_virtual_service(meshName=mesh, virtualServiceName=svc)["virtualService"]["spec"] == provider
    client.update_virtual_service(meshName=mesh, virtualServiceName=svc, spec={})
    assert client.list_virtual_services(meshName=mesh)["virtualServices"][0]["virtualServiceName"] == svc

    client.create_virtual_gateway(meshName=mesh, virtualGatewayName=gw, spec=gateway_spec())
    client.describe_virtual_gateway(meshName=mesh, virtualGatewayName=gw)
    client.update_virtual_gateway(meshName=mesh, virtualGatewayName=gw, spec=gateway_spec(9443))
    assert client.list_virtual_gateways(meshName=mesh)["virtualGateways"][0]["virtualGatewayName"] == gw

    client.create_gateway_route(meshName=mesh, virtualGatewayName=gw, gatewayRouteName="g", spec=gateway_route(svc))
    client.describe_gateway_route(meshName=mesh, virtualGatewayName=gw, gatewayRouteName="g")
    client.update_gateway_route(
        meshName=mesh, virtualGatewayName=gw, gatewayRouteName="g", spec=gateway_route(svc, "/v2/")
    )
    grs = client.list_gateway_routes(meshName=mesh, virtualGatewayName=gw)["gatewayRoutes"]
    assert [(g["gatewayRouteName"], g["virtualGatewayName"]) for g in grs] == [("g", gw)]

    arn = vn["metadata"]["arn"]
    client.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "a"}, {"key": "env", "value": "dev"}])
    client.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "a"}]

    deleted = client.delete_gateway_route(meshName=mesh, virtualGatewayName=gw, gatewayRouteName="g")
    assert deleted["gatewayRoute"]["status"] == {"status": "DELETED"}
    client.delete_virtual_gateway(meshName=mesh, virtualGatewayName=gw)
    client.delete_virtual_service(meshName=mesh, virtualServiceName=svc)
    client.delete_route(meshName=mesh, virtualRouterName=router, routeName="r")
    client.delete_virtual_router(meshName=mesh, virtualRouterName=router)
    assert client.delete_virtual_node(meshName=mesh, virtualNodeName=node)["virtualNode"]["metadata"]["version"] == 2
    assert client.delete_mesh(meshName=mesh)["mesh"]["status"] == {"status": "DELETED"}

    model = botocore.loaders.Loader().load_service_model("appmesh", "service-2")
    assert len(model["operations"]) == 38
    assert called == set(model["operations"])


def test_versions_start_at_one_and_grow_by_one_per_update(appmesh: Any, mesh: str) -> None:
    versions = [appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80))]
    for port in (81, 82, 83):
        versions.append(appmesh.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(port)))
    assert [v["virtualNode"]["metadata"]["version"] for v in versions] == [1, 2, 3, 4]
    first, last = versions[0]["virtualNode"]["metadata"], versions[-1]["virtualNode"]["metadata"]
    assert last["uid"] == first["uid"]
    assert last["createdAt"] == first["createdAt"]
    assert last["lastUpdatedAt"] >= first["lastUpdatedAt"]


def test_tagging_does_not_change_the_version(appmesh: Any, mesh: str) -> None:
    arn = appmesh.describe_mesh(meshName=mesh)["mesh"]["metadata"]["arn"]
    appmesh.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}])
    assert appmesh.describe_mesh(meshName=mesh)["mesh"]["metadata"]["version"] == 1


def test_tags_given_at_creation_are_listed(appmesh: Any, unique: Callable[[str], str]) -> None:
    name = unique("tagged")
    arn = appmesh.create_mesh(meshName=name, tags=[{"key": "a", "value": ""}])["mesh"]["metadata"]["arn"]
    assert appmesh.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": ""}]


def test_client_token_makes_create_idempotent(appmesh: Any, mesh: str) -> None:
    first = appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80), clientToken="t-1")
    again = appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80), clientToken="t-1")
    assert again["virtualNode"] == first["virtualNode"]


def test_client_token_makes_update_idempotent(appmesh: Any, mesh: str) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80))
    first = appmesh.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(81), clientToken="u-1")
    again = appmesh.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(81), clientToken="u-1")
    assert again["virtualNode"]["metadata"]["version"] == first["virtualNode"]["metadata"]["version"] == 2


def _with_port(spec: dict[str, Any], port: int) -> dict[str, Any]:
    spec["httpRoute"]["action"]["weightedTargets"][0]["port"] = port
    return spec


def _all(call: Callable[..., Any], key: str) -> list[Any]:
    items, token = [], None
    while True:
        page = call(**({"nextToken": token} if token else {}))
        items += page[key]
        token = page.get("nextToken")
        if not token:
            return items
