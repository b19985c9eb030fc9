"""What a bootstrap depends on, and how App Mesh's environment variables map onto it.

The mapping is done once, by the entry point (`from_env`); the builder takes plain options.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Mode = Literal["ads", "file"]
Platform = Literal["fargate", "ecs-ec2", "ec2"]
PLATFORMS: tuple[str, ...] = ("fargate", "ecs-ec2", "ec2")

DEFAULT_ADMIN_PORT = 9901
DEFAULT_ADS_ADDRESS = "127.0.0.1:18000"
DEFAULT_FILE_DIR = "/etc/envoy/xds"
XRAY_DEFAULT_PORT = 2000
XRAY_DEFAULT_RATE = 0.05
STATSD_DEFAULT_ADDRESS = "127.0.0.1"
STATSD_DEFAULT_PORT = 8125


def split_address(address: str) -> tuple[str, int]:
    """`host:port` (IPv6 hosts in brackets) as (host, port); ValueError otherwise."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class BootstrapOptions:
    node_id: str
    cluster: str | None = None
    mode: Mode = "ads"
    platform: Platform = "ec2"
    ads_address: str = DEFAULT_ADS_ADDRESS
    ads_delta: bool = False
    ads_tls_ca: str | None = None
    ads_tls_cert: str | None = None
    ads_tls_key: str | None = None
    ads_identity_dir: str | None = None  # `meshplane identity` writes the client certificate and CA here (SDS files)
    ads_server_name: str | None = None  # SNI and the name the server certificate must carry (default: the ADS host)
    file_dir: str = DEFAULT_FILE_DIR
    admin_port: int = DEFAULT_ADMIN_PORT
    bind_address: str | None = None
    sds_socket: str | None = None  # the local SDS provider (SPIRE agent) for `sds` certificates
    initial_fetch_timeout: float | None = None
    xray: bool = False
    xray_port: int = XRAY_DEFAULT_PORT
    xray_sampling_rate: float = XRAY_DEFAULT_RATE
    dogstatsd: bool = False
    statsd_address: str = STATSD_DEFAULT_ADDRESS
    statsd_port: int = STATSD_DEFAULT_PORT
    stats_tags: bool = False
    region: str | None = None
    availability_zone: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def with_overrides(self, **changes: Any) -> BootstrapOptions:
        """Apply only the changes that were actually given (flags left unset stay as the env said)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str], node_id: str | None = None) -> BootstrapOptions:
        """The App Mesh sidecar variables, so existing task definitions keep working."""
        resolved = (
            node_id or env.get("APPMESH_RESOURCE_ARN") or env.get("APPMESH_RESOURCE_NAME")
            or env.get("APPMESH_VIRTUAL_NODE_NAME")
        )  # fmt: skip
        if not resolved:
            raise ValueError("no node id: pass --node-id or set APPMESH_RESOURCE_ARN / APPMESH_VIRTUAL_NODE_NAME")
        timeout = env.get("ENVOY_INITIAL_FETCH_TIMEOUT")
        metadata = {
            key: env[name]
            for key, name in (("ecsTaskArn", "ECS_TASK_ARN"), ("ecsClusterArn", "ECS_CLUSTER_ARN"))
            if env.get(name)
        }
        return cls(
            node_id=resolved,
            cluster=env.get("APPMESH_RESOURCE_CLUSTER") or None,
            admin_port=int(env.get("ENVOY_ADMIN_ACCESS_PORT") or DEFAULT_ADMIN_PORT),
            sds_socket=env.get("APPMESH_SDS_SOCKET_PATH") or None,
            ads_identity_dir=env.get("MESHPLANE_IDENTITY_DIR") or None,
            ads_server_name=env.get("MESHPLANE_ADS_SERVER_NAME") or None,
            initial_fetch_timeout=float(timeout) if timeout else None,
            xray=_flag(env.get("ENABLE_ENVOY_XRAY_TRACING")),
            xray_port=int(env.get("XRAY_DAEMON_PORT") or XRAY_DEFAULT_PORT),
            xray_sampling_rate=float(env.get("XRAY_SAMPLING_RATE") or XRAY_DEFAULT_RATE),
            dogstatsd=_flag(env.get("ENABLE_ENVOY_DOG_STATSD")),
            statsd_address=env.get("STATSD_ADDRESS") or STATSD_DEFAULT_ADDRESS,
            statsd_port=int(env.get("STATSD_PORT") or STATSD_DEFAULT_PORT),
            stats_tags=_flag(env.get("ENABLE_ENVOY_STATS_TAGS")),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            availability_zone=env.get("AWS_AVAILABILITY_ZONE") or None,
            metadata=metadata,
        )
