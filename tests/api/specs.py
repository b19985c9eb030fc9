"""Small valid specs shared by the API tests."""

from __future__ import annotations

from typing import Any


def node_spec(*ports: int, backends: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "listeners": [{"portMapping": {"port": p, "protocol": "http"}} for p in ports],
        "serviceDiscovery": {"dns": {"hostname": "app.local"}},
        "backends": [{"virtualService": {"virtualServiceName": b}} for b in backends],
    }


def router_spec(port: int = 8080) -> dict[str, Any]:
    return {"listeners": [{"portMapping": {"port": port, "protocol": "http"}}]}


def http_route(*targets: tuple[str, int], prefix: str = "/") -> dict[str, Any]:
    return {
        "httpRoute": {
            "match": {"prefix": prefix},
            "action": {"weightedTargets": [{"virtualNode": n, "weight": w} for n, w in targets]},
        }
    }


def gateway_spec(port: int = 8443) -> dict[str, Any]:
    return {"listeners": [{"portMapping": {"port": port, "protocol": "http"}}]}


def gateway_route(service: str, prefix: str = "/") -> dict[str, Any]:
    target = {"virtualService": {"virtualServiceName": service}}
    return {"httpRoute": {"match": {"prefix": prefix}, "action": {"target": target}}}
