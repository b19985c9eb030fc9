"""Define the demo mesh through the App Mesh API with boto3, exactly as a user would.

The request bodies are the documented App Mesh shapes; nothing here knows how
meshplane stores or translates them.
"""

from __future__ import annotations

import json
from typing import Any

from meshplane.demo.plan import APP_PORT, GATEWAY_PORT, Plan

RETRY_POLICY: dict[str, Any] = {
    "maxRetries": 3,
    "perRetryTimeout": {"unit": "ms", "value": 2000},
    "httpRetryEvents": ["server-error", "gateway-error"],
    "tcpRetryEvents": ["connection-error"],
}
ROUTE_TIMEOUT: dict[str, Any] = {"perRequest": {"unit": "s", "value": 10}, "idle": {"unit": "s", "value": 30}}
OUTLIER_DETECTION: dict[str, Any] = {
    "maxServerErrors": 2,
    "interval": {"unit": "ms", "value": 1000},
    "baseEjectionDuration": {"unit": "s", "value": 30},
    "maxEjectionPercent": 50,
}


def _trust(plan: Plan) -> dict[str, Any]:
    return {"trust": {"file": {"certificateChain": plan.ca}}}


def _client_tls(plan: Plan, node: str) -> dict[str, Any]:
    """Originate mTLS to every backend: present our certificate, require one signed by the demo CA."""
    cert = plan.certs[node]
    return {
        "clientPolicy": {
            "tls": {
                "enforce": True,
                "certificate": {"file": {"certificateChain": str(cert.chain), "privateKey": str(cert.key)}},
                "validation": _trust(plan),
            }
        }
    }


def _listener(plan: Plan, node: str, *, outlier: bool) -> dict[str, Any]:
    cert = plan.certs[node]
    listener: dict[str, Any] = {
        "portMapping": {"port": APP_PORT, "protocol": "http"},
        "tls": {
            "mode": "STRICT",
            "certificate": {"file": {"certificateChain": str(cert.chain), "privateKey": str(cert.key)}},
            "validation": _trust(plan),
        },
    }
    if outlier:
        listener["outlierDetection"] = OUTLIER_DETECTION
    return listener


def _node_spec(plan: Plan, node: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "listeners": [_listener(plan, node, outlier=node != "front")],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": plan.namespace, "serviceName": node}},
    }
    if node == "front":
        spec["backends"] = [{"virtualService": {"virtualServiceName": plan.service("color")}}]
        spec["backendDefaults"] = _client_tls(plan, node)
    return spec


def weighted_targets(blue: int, green: int) -> list[dict[str, Any]]:
    return [{"virtualNode": "blue", "weight": blue}, {"virtualNode": "green", "weight": green}]


def route_spec(blue: int, green: int) -> dict[str, Any]:
    return {
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {"weightedTargets": weighted_targets(blue, green)},
            "retryPolicy": RETRY_POLICY,
            "timeout": ROUTE_TIMEOUT,
        }
    }


def define(appmesh: Any, plan: Plan) -> list[str]:
    """Create every resource of the demo mesh; returns their ARNs in creation order."""
    m = plan.mesh
    arns = [appmesh.create_mesh(meshName=m, spec={"egressFilter": {"type": "DROP_ALL"}})["mesh"]["metadata"]["arn"]]
    for node in plan.node_names:
        created = appmesh.create_virtual_node(meshName=m, virtualNodeName=node, spec=_node_spec(plan, node))
        arns.append(created["virtualNode"]["metadata"]["arn"])
    router = appmesh.create_virtual_router(
        meshName=m, virtualRouterName=plan.router,
        spec={"listeners": [{"portMapping": {"port": APP_PORT, "protocol": "http"}}]},
    )  # fmt: skip
    arns.append(router["virtualRouter"]["metadata"]["arn"])
    route = appmesh.create_route(
        meshName=m, virtualRouterName=plan.router, routeName=plan.route, spec=route_spec(100, 0)
    )
    arns.append(route["route"]["metadata"]["arn"])
    providers = {"front": {"virtualNode": {"virtualNodeName": "front"}},
                 "color": {"virtualRouter": {"virtualRouterName": plan.router}}}  # fmt: skip
    for service, provider in providers.items():
        created = appmesh.create_virtual_service(
            meshName=m, virtualServiceName=plan.service(service), spec={"provider": provider}
        )
        arns.append(created["virtualService"]["metadata"]["arn"])
    gateway = appmesh.create_virtual_gateway(
        meshName=m, virtualGatewayName=plan.gateway,
        spec={
            "listeners": [{"portMapping": {"port": GATEWAY_PORT, "protocol": "http"}}],
            "backendDefaults": _client_tls(plan, plan.gateway),
        },
    )  # fmt: skip
    arns.append(gateway["virtualGateway"]["metadata"]["arn"])
    gateway_route = appmesh.create_gateway_route(
        meshName=m, virtualGatewayName=plan.gateway, gatewayRouteName="to-front",
        spec={"httpRoute": {"match": {"prefix": "/"},
                            "action": {"target": {"virtualService": {"virtualServiceName": plan.service("front")}}}}},
    )  # fmt: skip
    arns.append(gateway_route["gatewayRoute"]["metadata"]["arn"])
    return arns


def spiffe_id(plan: Plan, name: str) -> str:
    """The URI SAN a demo certificate carries: meshplane's SPIFFE ID of its virtual node or gateway."""
    kind = "virtualGateway" if name == plan.gateway else "virtualNode"
    return f"spiffe://meshplane/mesh/{plan.mesh}/{kind}/{name}"


# who may call whom: the gateway calls front, front calls the colors
CALLERS = {"front": {"virtualGateway": "gateway"}, "blue": {"virtualNode": "front"},
           "green": {"virtualNode": "front"}}


def authorize(appmesh: Any, plan: Plan) -> None:
    """One authorization policy per node, through the Policy API beside App Mesh's (same endpoint and keys)."""
    for node, caller in CALLERS.items():
        spec = {"targets": [{"virtualNode": {"virtualNodeName": node}}],
                "authorization": {"rules": [{"action": "ALLOW", "from": [caller]}]}}
        create_policy(appmesh, plan, f"{node}-callers", spec)


# failure-percentage ejection beyond App Mesh's consecutive 5xx: a host failing 40 % of at least 5 requests in a
# second, with another host to compare, is ejected (`demo.beyond` shows it on blue-2)
EJECTION: dict[str, Any] = {
    "failurePercentage": {"threshold": 40, "minimumHosts": 2, "requestVolume": 5},
    "interval": {"value": 1, "unit": "s"}, "baseEjectionDuration": {"value": 30, "unit": "s"}, "maxEjectionPercent": 50,
}  # fmt: skip
RETRY_BUDGET: dict[str, Any] = {"budgetPercent": 20.0, "minRetryConcurrency": 3}
# blue's two instances are one per zone, so Envoy's default floor of 6 endpoints would leave zones unused
ZONE_AWARE: dict[str, Any] = {"minClusterSize": 2}
ZONE_POLICY = "blue-zones"


def resilience(appmesh: Any, plan: Plan) -> None:
    """blue's ejection rules, retry budget and zone-aware routing, written before any Envoy starts: a policy that
    changes an EDS cluster of a running Envoy holds that Envoy's next configuration until the cluster's endpoints
    are sent again, which the ADS server leaves to Envoy's 15 s initial fetch timeout."""
    blue = {"targets": [{"virtualNode": {"virtualNodeName": "blue"}}]}
    create_policy(appmesh, plan, "blue-resilience", {**blue, "outlierDetection": EJECTION, "retryBudget": RETRY_BUDGET})
    create_policy(appmesh, plan, ZONE_POLICY, {**blue, "zoneAware": ZONE_AWARE})


def create_policy(appmesh: Any, plan: Plan, name: str, spec: dict[str, Any]) -> int:
    """CreatePolicy as boto3-style JSON over HTTP to the App Mesh API's endpoint; returns the policy's version."""
    from meshplane.policycli import call

    body = json.dumps({"policyName": name, "spec": spec}).encode()
    created = call(appmesh.meta.endpoint_url, "PUT", f"/meshplane/v1/meshes/{plan.mesh}/policies", body,
                   "CreatePolicy", region=appmesh.meta.region_name)
    return int(created["policy"]["metadata"]["version"])


def set_weights(appmesh: Any, plan: Plan, blue: int, green: int) -> int:
    """Shift the canary; returns the route's new metadata version."""
    updated = appmesh.update_route(
        meshName=plan.mesh, virtualRouterName=plan.router, routeName=plan.route, spec=route_spec(blue, green)
    )
    return int(updated["route"]["metadata"]["version"])

