"""What a sidecar is started with: the sidecar image's entrypoint, its `meshplane bootstrap` flags and environment.

The App Mesh variables (node id, cluster, admin port, tracing, stats) travel in the environment, as the App Mesh
image read them and as meshplane's ECS discovery reads the node from a container's environment. What only meshplane
has (mode, ADS address and TLS, node identity, file directory, bind address) travels as flags, so the command an ECS
task or a systemd unit shows is the whole story. The entrypoint (`envoy_bootstrap/image/meshplane-envoy`) hands
the flags to `meshplane bootstrap`, writes the bootstrap and execs Envoy.
"""

from __future__ import annotations

from meshplane.bootstrap.options import (
    STATSD_DEFAULT_ADDRESS,
    STATSD_DEFAULT_PORT,
    XRAY_DEFAULT_PORT,
    XRAY_DEFAULT_RATE,
    BootstrapOptions,
)

ENTRYPOINT = "/usr/local/bin/meshplane-envoy"
# Healthy once Envoy is LIVE (its first config is in), asked at the admin address Envoy itself wrote, so the check
# follows --bind-address and the admin variables; the sidecar image's HEALTHCHECK runs the same line.
ADMIN_ADDRESS_PATH = "/tmp/envoy-admin-address"
HEALTH_CHECK = f'curl -fsS -o /dev/null "http://$(cat "${{MESHPLANE_ADMIN_ADDRESS_PATH:-{ADMIN_ADDRESS_PATH}}}")/ready"'


def bootstrap_arguments(options: BootstrapOptions) -> list[str]:
    """The `meshplane bootstrap` flags that, with `sidecar_environment`, render exactly `options`' bootstrap."""
    arguments = ["--mode", options.mode, "--platform", options.platform]
    if options.mode == "ads":
        arguments += ["--ads-address", options.ads_address]
        if options.ads_delta:
            arguments.append("--ads-delta")
        for flag, value in (
            ("--ads-tls-ca", options.ads_tls_ca),
            ("--ads-tls-cert", options.ads_tls_cert),
            ("--ads-tls-key", options.ads_tls_key),
            ("--ads-identity-dir", options.ads_identity_dir),
            ("--ads-server-name", options.ads_server_name),
        ):
            if value:
                arguments += [flag, value]
    else:
        arguments += ["--file-dir", options.file_dir]
    if options.bind_address:
        arguments += ["--bind-address", options.bind_address]
    return arguments


def node_environment(options: BootstrapOptions) -> dict[str, str]:
    """The node id as the App Mesh image took it: an ARN as APPMESH_RESOURCE_ARN, a path as the node name."""
    name = "APPMESH_RESOURCE_ARN" if options.node_id.startswith("arn:") else "APPMESH_VIRTUAL_NODE_NAME"
    return {name: options.node_id}


def sidecar_environment(options: BootstrapOptions) -> dict[str, str]:
    """The App Mesh image's variables for `options`, under the names App Mesh task definitions already use.

    Tracing and stats appear only when turned on, and their settings only when they differ from the defaults,
    so a variable added to the task definition later (a sampling rule manifest, a custom sinks file) never meets
    a stale default that `meshplane bootstrap` would refuse to combine with it.
    """
    env = {
        **node_environment(options),
        "ENVOY_ADMIN_ACCESS_PORT": str(options.admin_port),
        "ENVOY_LOG_LEVEL": "info",
    }
    if options.cluster:
        env["APPMESH_RESOURCE_CLUSTER"] = options.cluster
    if options.sds_socket:
        env["APPMESH_SDS_SOCKET_PATH"] = options.sds_socket
    if options.initial_fetch_timeout is not None:
        env["ENVOY_INITIAL_FETCH_TIMEOUT"] = f"{options.initial_fetch_timeout:g}"
    if options.stats_tags:
        env["ENABLE_ENVOY_STATS_TAGS"] = "1"
    if options.xray:
        env["ENABLE_ENVOY_XRAY_TRACING"] = "1"
        _unless_default(env, "XRAY_DAEMON_PORT", options.xray_port, XRAY_DEFAULT_PORT)
        _unless_default(env, "XRAY_SAMPLING_RATE", options.xray_sampling_rate, XRAY_DEFAULT_RATE)
    if options.dogstatsd:
        env["ENABLE_ENVOY_DOG_STATSD"] = "1"
        _unless_default(env, "STATSD_ADDRESS", options.statsd_address, STATSD_DEFAULT_ADDRESS)
        _unless_default(env, "STATSD_PORT", options.statsd_port, STATSD_DEFAULT_PORT)
    return env


def _unless_default(env: dict[str, str], name: str, value: object, default: object) -> None:
    if value != default:
        env[name] = f"{value:g}" if isinstance(value, float) else str(value)
