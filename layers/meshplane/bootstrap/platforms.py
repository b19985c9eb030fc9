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
    return _pairs(env)


def _pairs(env: dict[str, str]) -> list[dict[str, str]]:
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
    document: dict[str, Any] = {
        "requiresCompatibilities": ["FARGATE" if options.platform == "fargate" else "EC2"],
        "networkMode": "awsvpc",
        "proxyConfiguration": {
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [{"name": k, "value": v} for k, v in properties.items()],
        },
        "containerDefinitions": [envoy],
    }
    if options.mode == "ads" and options.ads_identity_dir:
        _with_identity_agent(document, envoy, options, image)
    return document


IDENTITY_CONTAINER = "meshplane-identity"
IDENTITY_VOLUME = "meshplane-identity"


def _with_identity_agent(document: dict[str, Any], envoy: dict[str, Any], options: BootstrapOptions,
                         image: str) -> None:  # fmt: skip
    """Secure ADS: `meshplane identity` beside Envoy, sharing a task volume; Envoy starts once a certificate is there.

    Both run as the ignored UID, so Envoy can read the 0600 key the agent writes (the image should
    create the directory owned by that UID). The agent needs the CA: set MESHPLANE_BUCKET (it reads
    identity/ca.pem there) on it, or mount the CA and pass --ca-file.
    """
    directory = str(options.ads_identity_dir)
    shared = {
        "MESHPLANE_IDENTITY_DIR": directory,
        **({"MESHPLANE_ADS_SERVER_NAME": options.ads_server_name} if options.ads_server_name else {}),
    }
    node = {e["name"]: e["value"] for e in envoy["environment"] if e["name"].startswith("APPMESH_")}
    envoy["environment"] = _pairs({**{e["name"]: e["value"] for e in envoy["environment"]}, **shared})
    envoy["mountPoints"] = [{"sourceVolume": IDENTITY_VOLUME, "containerPath": directory, "readOnly": True}]
    envoy["dependsOn"] = [{"containerName": IDENTITY_CONTAINER, "condition": "HEALTHY"}]
    agent = {
        "name": IDENTITY_CONTAINER,
        "image": image,
        "essential": True,
        "user": str(IGNORED_UID),
        "entryPoint": ["meshplane"],
        "command": ["identity", "--ads-address", options.ads_address],
        "environment": _pairs({**node, **shared}),
        "mountPoints": [{"sourceVolume": IDENTITY_VOLUME, "containerPath": directory}],
        "healthCheck": {
            "command": ["CMD-SHELL", f"test -f {directory}/ads-client-certificate.json"],
            "interval": 5,
            "timeout": 2,
            "retries": 3,
            "startPeriod": 5,
        },
    }
    document["containerDefinitions"].append(agent)
    document["volumes"] = [{"name": IDENTITY_VOLUME}]


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
