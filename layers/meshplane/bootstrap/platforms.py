"""What goes around the bootstrap on each platform App Mesh supported.

- ECS on Fargate and ECS on EC2: a task definition with the Envoy sidecar, the container feeding it and
  `proxyConfiguration` of type APPMESH, the ECS agent installing the iptables redirect (`task_definition.py`);
- EC2 or on-premises: a systemd unit running the sidecar image's entrypoint as UID 1337 plus the iptables script
  (`envoy_bootstrap/ec2/meshplane-iptables.sh`) doing what the ECS agent does.
Either way the entrypoint (`envoy_bootstrap/image/meshplane-envoy`) renders the bootstrap with `meshplane bootstrap`
and execs Envoy.
"""

from __future__ import annotations

import re

from meshplane.bootstrap.command import ENTRYPOINT, bootstrap_arguments, node_environment
from meshplane.bootstrap.options import BootstrapOptions

IGNORED_UID = 1337
INGRESS_PORT = 15000
EGRESS_PORT = 15001
EGRESS_IGNORED_IPS = ("169.254.170.2", "169.254.169.254")
BOOTSTRAP_PATH = "/tmp/envoy-bootstrap.json"  # the entrypoint's default (MESHPLANE_BOOTSTRAP_PATH)
SYSTEMD_BOOTSTRAP_PATH = "/run/meshplane-envoy/bootstrap.json"
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:@,=+\[\]-]+")


def _systemd_word(word: str) -> str:
    """One argument as systemd's command-line parser reads it back: quoted if need be, `%` and `$` escaped."""
    if not _PLAIN_WORD.fullmatch(word):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word.replace("%", "%%").replace("$", "$$")


def systemd_unit(options: BootstrapOptions) -> str:
    """A unit running the sidecar entrypoint as the ignored UID, after the iptables redirect is in place.

    The App Mesh variables come from `/etc/meshplane/envoy.env`, so one unit file serves every host.
    """
    command = " ".join(_systemd_word(word) for word in (ENTRYPOINT, *bootstrap_arguments(options)))
    node = "".join(f"Environment={_systemd_word(f'{k}={v}')}\n" for k, v in node_environment(options).items())
    return f"""[Unit]
Description=meshplane Envoy sidecar ({options.node_id})
Wants=network-online.target
After=network-online.target

[Service]
User={IGNORED_UID}
EnvironmentFile=/etc/meshplane/envoy.env
{node}Environment=MESHPLANE_BOOTSTRAP_PATH={SYSTEMD_BOOTSTRAP_PATH}
RuntimeDirectory=meshplane-envoy
ExecStartPre=+/usr/local/bin/meshplane-iptables.sh start
ExecStart={command}
ExecStopPost=+/usr/local/bin/meshplane-iptables.sh stop
Restart=always
RestartSec=1
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""
