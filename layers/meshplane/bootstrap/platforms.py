"""What goes around the bootstrap on each platform App Mesh supported.

- ECS on Fargate and ECS on EC2: a task definition with the Envoy sidecar, the container feeding it and
  `proxyConfiguration` of type APPMESH, the ECS agent installing the iptables redirect (`task_definition.py`);
- EC2 or on-premises: a systemd unit running the sidecar image's entrypoint as UID 1337 plus the iptables script
  (`envoy_bootstrap/ec2/meshplane-iptables.sh`) doing what the ECS agent does; in file mode a second unit runs
  `meshplane agent` (`agent_systemd_unit`), which the first one starts after.
Either way the entrypoint (`envoy_bootstrap/image/meshplane-envoy`) renders the bootstrap with `meshplane bootstrap`
and execs Envoy.
"""

from __future__ import annotations

import re

from meshplane import envvars
from meshplane.bootstrap.command import ENTRYPOINT, bootstrap_arguments, node_environment
from meshplane.bootstrap.options import BootstrapOptions

IGNORED_UID = 1337
INGRESS_PORT = 15000
EGRESS_PORT = 15001
EGRESS_IGNORED_IPS = ("169.254.170.2", "169.254.169.254")
BOOTSTRAP_PATH = "/tmp/envoy-bootstrap.json"  # the entrypoint's default (MESHPLANE_BOOTSTRAP_PATH)
SYSTEMD_BOOTSTRAP_PATH = "/run/meshplane-envoy/bootstrap.json"
AGENT_UNIT = "meshplane-agent.service"
MESHPLANE = "/usr/local/bin/meshplane"
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
    command = _command_line(ENTRYPOINT, *bootstrap_arguments(options))
    node = _environment(node_environment(options))
    after = f"network-online.target {AGENT_UNIT}" if options.mode == "file" else "network-online.target"
    wants = f"network-online.target {AGENT_UNIT}" if options.mode == "file" else "network-online.target"
    return f"""[Unit]
Description=meshplane Envoy sidecar ({options.node_id})
Wants={wants}
After={after}

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


def agent_systemd_unit(options: BootstrapOptions, bucket: str, table: str) -> str:
    """File mode on a host: `meshplane agent` as the ignored UID, its first config written (`--once`) before the
    Envoy unit starts, then kept current, each apply recorded in `table` as the Envoy's status.

    The region and anything else the agent reads come from `/etc/meshplane/envoy.env`, as for Envoy's unit;
    the instance role's credentials from the instance metadata, as any AWS SDK finds them."""
    if options.mode != "file":
        raise ValueError("--emit systemd-agent is for file mode (--mode file): in ADS mode Envoy needs no agent")
    for flag, value, output in (("--bucket", bucket, "SnapshotBucketName"), ("--table", table, "StateTableName")):
        if not value:
            raise ValueError(f"--emit systemd-agent needs {flag} (the stack's {output} output)")
    agent = ["agent", "--node-id", options.node_id, "--dir", options.file_dir]
    if options.bind_address:
        agent += ["--bind-address", options.bind_address]
    directory = _command_line("/usr/bin/install", "-d", "-o", str(IGNORED_UID), "-g", str(IGNORED_UID), "-m", "0755",
                              options.file_dir)  # fmt: skip
    return f"""[Unit]
Description=meshplane file agent ({options.node_id})
Wants=network-online.target
After=network-online.target
Before=meshplane-envoy.service

[Service]
User={IGNORED_UID}
EnvironmentFile=/etc/meshplane/envoy.env
{_environment({envvars.BUCKET: bucket, envvars.TABLE: table})}ExecStartPre=+{directory}
ExecStartPre={_command_line(MESHPLANE, *agent, "--once")}
ExecStart={_command_line(MESHPLANE, *agent)}
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""


def _command_line(*words: str) -> str:
    return " ".join(_systemd_word(word) for word in words)


def _environment(env: dict[str, str]) -> str:
    return "".join(f"Environment={_systemd_word(f'{k}={v}')}\n" for k, v in env.items())
