"""What goes around the bootstrap on each platform App Mesh supported.

- ECS on Fargate and ECS on EC2: a task-definition snippet with the Envoy sidecar and
  `proxyConfiguration` of type APPMESH (the ECS agent installs the iptables redirect);
- EC2 or on-premises: a systemd unit running Envoy as UID 1337 plus the iptables script
  (`envoy_bootstrap/ec2/meshplane-iptables.sh`) doing what the ECS agent does.
The sidecar container renders its bootstrap at start with `meshplane bootstrap`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meshplane.bootstrap.options import BootstrapOptions

IGNORED_UID = 1337
INGRESS_PORT = 15000
EGRESS_PORT = 15001
EGRESS_IGNORED_IPS = ("169.254.170.2", "169.254.169.254")
BOOTSTRAP_PATH = "/tmp/envoy-bootstrap.json"


def launch_command(options: BootstrapOptions, bootstrap_path: str = BOOTSTRAP_PATH) -> str:
    """Render the bootstrap from the App Mesh variables, then exec Envoy (its log level from ENVOY_LOG_LEVEL).

    With a bind address, several Envoys share the host. Each Envoy claims a hot-restart base id (shared
    memory and a domain socket, 0 unless told otherwise), so the second one on a host would fail to
    start: `--use-dynamic-base-id` lets each take a free one.
    """
    flags = [f"--mode {options.mode}", f"--platform {options.platform}"]
    if options.mode == "ads":
        flags.append(f"--ads-address {options.ads_address}")
    else:
        flags.append(f"--file-dir {options.file_dir}")
    envoy_flags = [f"-c {bootstrap_path}", "-l ${ENVOY_LOG_LEVEL:-info}"]
    if options.bind_address:
        flags.append(f"--bind-address {options.bind_address}")
        envoy_flags.append("--use-dynamic-base-id")
    return f"meshplane bootstrap {' '.join(flags)} > {bootstrap_path} && exec envoy {' '.join(envoy_flags)}"


def _environment(options: BootstrapOptions) -> list[dict[str, str]]:
    identity = "APPMESH_RESOURCE_ARN" if options.node_id.startswith("arn:") else "APPMESH_VIRTUAL_NODE_NAME"
    env = {
        identity: options.node_id,
        "ENVOY_ADMIN_ACCESS_PORT": str(options.admin_port),
        "ENVOY_LOG_LEVEL": "info",
        "ENABLE_ENVOY_XRAY_TRACING": "1" if options.xray else "0",
        "XRAY_SAMPLING_RATE": str(options.xray_sampling_rate),
        "ENABLE_ENVOY_DOG_STATSD": "1" if options.dogstatsd else "0",
        "ENABLE_ENVOY_STATS_TAGS": "1" if options.stats_tags else "0",
    }
    return [{"name": k, "value": v} for k, v in sorted(env.items())]


def task_definition(options: BootstrapOptions, image: str, app_ports: Sequence[int]) -> dict[str, Any]:
    """The parts of an ECS task definition that make a task a meshplane member."""
    properties = {
        "IgnoredUID": str(IGNORED_UID),
        "ProxyIngressPort": str(INGRESS_PORT),
        "ProxyEgressPort": str(EGRESS_PORT),
        "AppPorts": ",".join(str(p) for p in app_ports),
        "EgressIgnoredIPs": ",".join(EGRESS_IGNORED_IPS),
    }
    admin = options.admin_port
    envoy = {
        "name": "envoy",
        "image": image,
        "essential": True,
        "user": str(IGNORED_UID),
        "entryPoint": ["sh", "-c"],
        "command": [launch_command(options)],
        "environment": _environment(options),
        "healthCheck": {
            "command": ["CMD-SHELL", f"curl -s http://localhost:{admin}/server_info | grep state | grep -q LIVE"],
            "interval": 5,
            "timeout": 2,
            "retries": 3,
            "startPeriod": 10,
        },
        "ulimits": [{"name": "nofile", "softLimit": 15000, "hardLimit": 15000}],
    }
    return {
        "requiresCompatibilities": ["FARGATE" if options.platform == "fargate" else "EC2"],
        "networkMode": "awsvpc",
        "proxyConfiguration": {
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [{"name": k, "value": v} for k, v in properties.items()],
        },
        "containerDefinitions": [envoy],
    }


def systemd_unit(options: BootstrapOptions) -> str:
    """A unit running Envoy as the ignored UID, after the iptables redirect is in place.

    The node id and the App Mesh variables come from `/etc/meshplane/envoy.env`, so one
    unit file serves every host; `$$` is systemd's escape for a literal `$`.
    """
    command = launch_command(options, "/run/meshplane-envoy/bootstrap.json").replace("$", "$$")
    return f"""[Unit]
Description=meshplane Envoy sidecar ({options.node_id})
Wants=network-online.target
After=network-online.target

[Service]
User={IGNORED_UID}
EnvironmentFile=/etc/meshplane/envoy.env
Environment=APPMESH_VIRTUAL_NODE_NAME={options.node_id}
RuntimeDirectory=meshplane-envoy
ExecStartPre=+/usr/local/bin/meshplane-iptables.sh start
ExecStart=/bin/sh -c '{command}'
ExecStopPost=+/usr/local/bin/meshplane-iptables.sh stop
Restart=always
RestartSec=1
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""
