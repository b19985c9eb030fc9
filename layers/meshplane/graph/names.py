"""App Mesh's Envoy resource names, kept exact so existing dashboards and stats keep working."""

from __future__ import annotations

INGRESS_PORT = 15000
EGRESS_PORT = 15001
INGRESS_CLUSTER_PREFIX = "cds_ingress_"  # the proxy's own app, or a gateway's own listener


def ingress_listener() -> str:
    return f"lds_ingress_0.0.0.0_{INGRESS_PORT}"


def egress_listener() -> str:
    return f"lds_egress_0.0.0.0_{EGRESS_PORT}"


def gateway_listener(port: int) -> str:
    return f"lds_ingress_0.0.0.0_{port}"


def egress_port_listener(address: str, port: int) -> str:
    """A static bootstrap's stand-in for iptables: one backend port on the app's own address."""
    return f"lds_egress_{address}_{port}"


def ingress_cluster(mesh: str, node: str, protocol: str, port: int) -> str:
    return f"{INGRESS_CLUSTER_PREFIX}{mesh}_{node}_{protocol}_{port}"


def is_ingress_cluster(name: str) -> bool:
    return name.startswith(INGRESS_CLUSTER_PREFIX)


def egress_cluster(mesh: str, node: str, protocol: str, port: int) -> str:
    return f"cds_egress_{mesh}_{node}_{protocol}_{port}"


def self_redirect_cluster(mesh: str, gateway: str, protocol: str, port: int) -> str:
    return f"{INGRESS_CLUSTER_PREFIX}{mesh}_{gateway}_self_redirect_{protocol}_{port}"


def amazonaws_cluster(mesh: str) -> str:
    return f"cds_egress_{mesh}_amazonaws"


def passthrough_cluster(mesh: str) -> str:
    return f"cds_egress_{mesh}_passthrough"


def jwks_cluster(mesh: str, host: str, port: int) -> str:
    """A JWT provider's remote key server (policy `jwt`), shared by the providers on one host and port."""
    return f"cds_egress_{mesh}_jwks_{host}_{port}"


def ingress_routes(protocol: str, port: int) -> str:
    return f"rds_ingress_{protocol}_{port}"


def egress_routes(protocol: str, port: int) -> str:
    return f"rds_egress_{protocol}_{port}"
