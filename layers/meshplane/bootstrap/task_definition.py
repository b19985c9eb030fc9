"""The ECS task definition that makes a task a meshplane member: Envoy, the container feeding it, and the redirect.

- **ADS mode**: `meshplane identity` trades the task role's IAM proof for a node certificate (the stack's ADS serves
  none without one) and keeps it fresh in a task volume whose files Envoy's SDS watches. The role needs the stack's
  `AdsProxyPolicyArn` and the tags `meshplane:mesh` / `meshplane:virtualNode` (or `meshplane:virtualGateway`).
  Certificates of your own PKI (`--ads-tls-cert/--ads-tls-key`) replace the identity container.
- **File mode**: `meshplane agent` writes the proxy's xDS files from the snapshot bucket into a task volume Envoy
  watches, and records each apply as its Envoy's status in the state table (what the console's Proxies panel and
  the status read show); the role needs the stack's `FileModeProxyPolicyArn` and the same tags.

Envoy starts once its feeder is HEALTHY, so its first config or certificate is already there. Both run as UID 1337,
the IgnoredUID of the APPMESH proxy configuration, so their own traffic is never redirected and Envoy can read the
0600 key the identity agent writes. Both come from the sidecar image (`envoy_bootstrap/image/Dockerfile`), which
creates the volume paths owned by that UID. Family, CPU, memory and the app container are the user's to add.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from meshplane import envvars
from meshplane.bootstrap.command import (
    ENTRYPOINT,
    HEALTH_CHECK,
    bootstrap_arguments,
    node_environment,
    sidecar_environment,
)
from meshplane.bootstrap.options import BootstrapOptions
from meshplane.bootstrap.platforms import EGRESS_IGNORED_IPS, EGRESS_PORT, IGNORED_UID, INGRESS_PORT
from meshplane.identity.defaults import DEFAULT_IDENTITY_DIR
from meshplane.identity.layout import IdentityLayout

ENVOY_CONTAINER = "envoy"
IDENTITY_CONTAINER = "meshplane-identity"
AGENT_CONTAINER = "meshplane-agent"
IDENTITY_VOLUME = "meshplane-identity"
XDS_VOLUME = "meshplane-xds"
NOFILE = 15000
# ECS image names: letters, digits, '-', '_', ':', '.', '/', '#' (and '@' of a digest), at most 255
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#@-]{0,254}")
_ROLE_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")


@dataclass(frozen=True)
class TaskSettings:
    """What the task definition needs beyond the bootstrap options; checked when made."""

    image: str  # the sidecar image: `make images` builds it, e.g. <account>.dkr.ecr.<region>.amazonaws.com/...
    task_role_arn: str
    app_ports: tuple[int, ...] = (8080,)
    execution_role_arn: str | None = None  # pulls the image from ECR and writes logs (Fargate needs one for ECR)
    bucket: str | None = None  # the stack's SnapshotBucketName: snapshots (file mode) and the node CA (ADS)
    table: str | None = None  # the stack's StateTableName: where the file agent records its Envoy's status
    identity_address: str | None = None  # the stack's AdsIdentityEndpoint (default: the ADS port + 1)

    def __post_init__(self) -> None:
        if not _IMAGE.fullmatch(self.image):
            raise ValueError(f"--image {self.image!r}: not an image name ECS accepts")
        for flag, arn in (("--task-role-arn", self.task_role_arn), ("--execution-role-arn", self.execution_role_arn)):
            if arn is not None and not _ROLE_ARN.fullmatch(arn):
                raise ValueError(f"{flag} {arn!r}: not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        if not self.app_ports:
            raise ValueError("--app-ports: name at least one port the app listens on")
        for port in self.app_ports:
            if not 1 <= port <= 65535 or port in (INGRESS_PORT, EGRESS_PORT):
                raise ValueError(f"--app-ports {port}: not a port, or one of Envoy's ({INGRESS_PORT}, {EGRESS_PORT})")


def task_definition(options: BootstrapOptions, settings: TaskSettings) -> dict[str, Any]:
    """The task definition parts for one proxy; ValueError names what is missing for its mode."""
    if options.admin_port in settings.app_ports:
        raise ValueError(f"--app-ports {options.admin_port}: Envoy's admin port")
    if options.mode == "ads" and not options.ads_identity_dir and not options.ads_tls_cert:
        options = replace(options, ads_identity_dir=DEFAULT_IDENTITY_DIR)  # the stack's ADS requires node identity
    envoy = _envoy(options, settings)
    feeder = _feeder(options, settings)
    document: dict[str, Any] = {
        "requiresCompatibilities": ["FARGATE" if options.platform == "fargate" else "EC2"],
        "networkMode": "awsvpc",
        "taskRoleArn": settings.task_role_arn,
        **({"executionRoleArn": settings.execution_role_arn} if settings.execution_role_arn else {}),
        "proxyConfiguration": _proxy_configuration(settings.app_ports),
        "containerDefinitions": [envoy],
    }
    if feeder is not None:
        container, volume, path = feeder
        envoy["mountPoints"] = [{"sourceVolume": volume, "containerPath": path, "readOnly": True}]
        envoy["dependsOn"] = [{"containerName": container["name"], "condition": "HEALTHY"}]
        document["containerDefinitions"].append(container)
        document["volumes"] = [{"name": volume}]
    return document


def _proxy_configuration(app_ports: Sequence[int]) -> dict[str, Any]:
    properties = {
        "IgnoredUID": str(IGNORED_UID),
        "ProxyIngressPort": str(INGRESS_PORT),
        "ProxyEgressPort": str(EGRESS_PORT),
        "AppPorts": ",".join(str(p) for p in app_ports),
        "EgressIgnoredIPs": ",".join(EGRESS_IGNORED_IPS),
    }
    return {"type": "APPMESH", "containerName": ENVOY_CONTAINER,
            "properties": [{"name": k, "value": v} for k, v in properties.items()]}  # fmt: skip


def _envoy(options: BootstrapOptions, settings: TaskSettings) -> dict[str, Any]:
    """Envoy from the sidecar image; healthy once LIVE (its first config is in), as App Mesh's check asked."""
    return {
        "name": ENVOY_CONTAINER,
        "image": settings.image,
        "essential": True,
        "user": str(IGNORED_UID),
        "entryPoint": [ENTRYPOINT],
        "command": bootstrap_arguments(options),
        "environment": _pairs(sidecar_environment(options)),
        "healthCheck": _health(HEALTH_CHECK, start=10),
        "ulimits": [{"name": "nofile", "softLimit": NOFILE, "hardLimit": NOFILE}],
    }


def _feeder(options: BootstrapOptions, settings: TaskSettings) -> tuple[dict[str, Any], str, str] | None:
    """(container, volume, path) of what feeds Envoy, or None when certificates come from the user's own PKI."""
    if options.mode == "file":
        if not settings.bucket:
            raise ValueError("a file-mode task definition needs --bucket or MESHPLANE_BUCKET (the stack's "
                             "SnapshotBucketName output): meshplane agent reads the proxy's snapshots "
                             "there")  # fmt: skip
        if not settings.table:
            raise ValueError("a file-mode task definition needs --table or MESHPLANE_TABLE (the stack's "
                             "StateTableName output): meshplane agent records its Envoy's config status "
                             "there")  # fmt: skip
        return _agent(options, settings, settings.bucket, settings.table), XDS_VOLUME, options.file_dir
    if not options.ads_identity_dir:
        return None
    return _identity(options, settings), IDENTITY_VOLUME, options.ads_identity_dir


def _identity(options: BootstrapOptions, settings: TaskSettings) -> dict[str, Any]:
    """`meshplane identity`: node certificates for the task role, renewed at half their life."""
    directory = str(options.ads_identity_dir)
    command = ["identity", "--ads-address", options.ads_address, "--dir", directory]
    if settings.identity_address:
        command += ["--exchange-address", settings.identity_address]
    if options.ads_server_name:
        command += ["--server-name", options.ads_server_name]
    env = node_environment(options)
    if options.ads_tls_ca:
        command += ["--ca-file", options.ads_tls_ca]
    elif settings.bucket:
        env[envvars.BUCKET] = settings.bucket
    else:
        raise ValueError("an ADS task definition needs --bucket or MESHPLANE_BUCKET (the stack's SnapshotBucketName "
                         "output): the identity container reads the node CA from s3://<bucket>/identity/ca.pem, "
                         "or pass --ads-tls-ca with the CA file the image carries")  # fmt: skip
    ready = IdentityLayout(Path(directory)).certificate_sds
    return _side_container(IDENTITY_CONTAINER, settings.image, command, env, IDENTITY_VOLUME, directory, ready)


def _agent(options: BootstrapOptions, settings: TaskSettings, bucket: str, table: str) -> dict[str, Any]:
    """`meshplane agent`: the proxy's xDS files from S3, listeners last, so their file means the rest is there;
    each apply recorded in the table as the Envoy's status (its instance: the task, from `ECS_TASK_ARN`)."""
    from meshplane.delivery.files import file_path
    from meshplane.snapshot.types import XdsType

    command = ["agent", "--node-id", options.node_id, "--dir", options.file_dir]
    if options.bind_address:
        command += ["--bind-address", options.bind_address]
    ready = file_path(Path(options.file_dir), XdsType.LISTENERS)
    env = {envvars.BUCKET: bucket, envvars.TABLE: table}
    return _side_container(AGENT_CONTAINER, settings.image, command, env, XDS_VOLUME, options.file_dir, ready)


def _side_container(name: str, image: str, command: list[str], env: dict[str, str], volume: str, path: str,
                    ready: Path) -> dict[str, Any]:  # fmt: skip
    """A meshplane process beside Envoy, writing the shared volume; healthy once the file Envoy needs is there."""
    return {
        "name": name,
        "image": image,
        "essential": True,
        "user": str(IGNORED_UID),
        "entryPoint": ["meshplane"],
        "command": command,
        "environment": _pairs(env),
        "mountPoints": [{"sourceVolume": volume, "containerPath": path}],
        "healthCheck": _health(f"test -f {shlex.quote(str(ready))}", start=5),
    }


def _health(shell: str, *, start: int) -> dict[str, Any]:
    return {"command": ["CMD-SHELL", shell], "interval": 5, "timeout": 2, "retries": 3, "startPeriod": start}


def _pairs(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in sorted(env.items())]
