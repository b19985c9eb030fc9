"""`meshplane bootstrap`: every platform's output passes `envoy --mode validate`, App Mesh variables are honoured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from meshplane.bootstrap.options import BootstrapOptions

MESHPLANE = str(Path(sys.executable).with_name("meshplane"))
ENVOY = str(Path(sys.executable).with_name("envoy"))
NODE = "mesh/shop/virtualNode/web"
ARN = "arn:aws:appmesh:eu-west-1:111122223333:mesh/shop/virtualGateway/edge"
REPO = Path(__file__).resolve().parents[2]
TASK_ARGS = ("--image", "meshplane-envoy:0.1.0", "--task-role-arn", "arn:aws:iam::111122223333:role/edge",
             "--ads-address", "ads.internal:18000", "--bucket", "snapshots")  # fmt: skip


def bootstrap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESHPLANE, "bootstrap", *args], capture_output=True, text=True, env=env or {}, timeout=60,
                          check=False)  # fmt: skip


def envoy_validates(document: str, tmp_path: Path, suffix: str = ".json") -> None:
    path = tmp_path / f"bootstrap{suffix}"
    path.write_text(document)
    result = subprocess.run([ENVOY, "--mode", "validate", "-c", str(path), "-l", "error", "--use-dynamic-base-id"],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.envoy
@pytest.mark.parametrize("platform", ["fargate", "ecs-ec2", "ec2"])
@pytest.mark.parametrize("mode", ["ads", "file"])
def test_every_platform_and_mode_passes_envoy_validate(platform: str, mode: str, tmp_path: Path) -> None:
    args = ["--node-id", NODE, "--platform", platform, "--mode", mode, "--file-dir", str(tmp_path / "xds")]
    env = {"ENABLE_ENVOY_XRAY_TRACING": "1", "ENABLE_ENVOY_DOG_STATSD": "1", "ENABLE_ENVOY_STATS_TAGS": "1",
           "ENVOY_INITIAL_FETCH_TIMEOUT": "5", "AWS_AVAILABILITY_ZONE": "eu-west-1b"}  # fmt: skip
    if mode == "file":  # Envoy checks that watched paths exist; `meshplane agent --once` creates them first
        from meshplane.delivery.agent import FileWriter
        from meshplane.snapshot.snapshot import Snapshot

        FileWriter(tmp_path / "xds").write(Snapshot.build(NODE, {}))
    result = bootstrap(*args, env=env)
    assert result.returncode == 0, result.stderr
    envoy_validates(result.stdout, tmp_path)


@pytest.mark.envoy
def test_yaml_output_with_an_arn_and_ads_tls_passes_envoy_validate(tmp_path: Path) -> None:
    from support import TestCA

    ca = TestCA(tmp_path / "pki")
    leaf = ca.issue("edge", uris=(ARN,))
    result = bootstrap("--node-id", ARN, "--format", "yaml", "--ads-address", "ads.meshplane.internal:18000",
                       "--ads-tls-ca", str(ca.cert_path), "--ads-tls-cert", str(leaf.chain),
                       "--ads-tls-key", str(leaf.key), "--ads-delta")  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
    assert document["static_resources"]["clusters"][0]["type"] == "STRICT_DNS"
    envoy_validates(result.stdout, tmp_path, ".yaml")


def test_app_mesh_task_definition_variables_are_honoured() -> None:
    env = {"APPMESH_RESOURCE_ARN": ARN, "APPMESH_RESOURCE_CLUSTER": "edge-cluster", "ENVOY_ADMIN_ACCESS_PORT": "9902",
           "ENABLE_ENVOY_XRAY_TRACING": "1", "XRAY_DAEMON_PORT": "2001", "XRAY_SAMPLING_RATE": "0.2",
           "ENABLE_ENVOY_DOG_STATSD": "true", "STATSD_ADDRESS": "10.0.0.5", "STATSD_PORT": "8126",
           "ENABLE_ENVOY_STATS_TAGS": "1", "ENVOY_INITIAL_FETCH_TIMEOUT": "7", "AWS_REGION": "eu-west-1",
           "AWS_AVAILABILITY_ZONE": "eu-west-1a"}  # fmt: skip
    result = bootstrap(env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["node"]["id"] == ARN and doc["node"]["cluster"] == "edge-cluster"
    # the zone alone, as discovery's endpoint localities name it: Envoy matches localities field by field
    assert doc["node"]["locality"] == {"zone": "eu-west-1a"} and doc["node"]["metadata"]["AWS_REGION"] == "eu-west-1"
    assert doc["admin"]["address"]["socket_address"]["port_value"] == 9902
    xray = doc["tracing"]["http"]["typed_config"]
    assert xray["daemon_endpoint"] == {"protocol": "UDP", "address": "127.0.0.1", "port_value": 2001}
    assert xray["segment_name"] == "shop/edge"
    assert json.loads(xray["sampling_rule_manifest"]["inline_string"])["default"]["rate"] == 0.2
    sink = doc["stats_sinks"][0]["typed_config"]["address"]["socket_address"]
    assert sink == {"protocol": "UDP", "address": "10.0.0.5", "port_value": 8126}
    assert {t["tag_name"]: t["fixed_value"] for t in doc["stats_config"]["stats_tags"] if "fixed_value" in t} == {
        "appmesh.mesh": "shop", "appmesh.virtual_gateway": "edge"}  # fmt: skip
    assert doc["dynamic_resources"]["cds_config"]["initial_fetch_timeout"] == "7s"


def test_ads_connection_has_keepalive_max_duration_and_fast_reconnect() -> None:
    doc = json.loads(bootstrap("--node-id", NODE, "--ads-address", "127.0.0.1:18000").stdout)
    cluster = doc["static_resources"]["clusters"][0]
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert options["explicit_http_config"]["http2_protocol_options"]["connection_keepalive"] == {
        "interval": "10s", "timeout": "20s"}  # fmt: skip
    assert options["common_http_protocol_options"]["max_connection_duration"] == "2400s"
    ads = doc["dynamic_resources"]["ads_config"]
    assert ads["grpc_services"][0]["envoy_grpc"]["retry_policy"]["retry_back_off"]["max_interval"] == "5s"
    assert doc["dynamic_resources"]["lds_config"] == {"ads": {}, "resource_api_version": "V3"}


def test_flags_override_the_environment_and_bind_address_reaches_node_metadata() -> None:
    env = {"APPMESH_VIRTUAL_NODE_NAME": "mesh/other/virtualNode/x", "ENVOY_ADMIN_ACCESS_PORT": "9999"}
    result = bootstrap("--node-id", NODE, "--admin-port", "0", "--bind-address", "127.77.0.9", env=env)
    doc = json.loads(result.stdout)
    assert doc["node"]["id"] == NODE
    assert doc["node"]["metadata"]["BIND_ADDRESS"] == "127.77.0.9"
    assert doc["admin"]["address"]["socket_address"] == {"address": "127.77.0.9", "port_value": 0}


@pytest.mark.parametrize("node_id", ["web", "mesh/shop/virtualService/web", ""])
def test_a_node_id_naming_no_proxy_is_a_clear_error(node_id: str) -> None:
    result = bootstrap("--node-id", node_id) if node_id else bootstrap()
    assert result.returncode == 2
    assert "meshplane bootstrap:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("platform", ["fargate", "ecs-ec2"])
def test_ecs_task_definition_has_the_app_mesh_proxy_configuration(platform: str) -> None:
    result = bootstrap("--node-id", ARN, "--platform", platform, "--emit", "task-definition", "--app-ports",
                       "8080,9090", *TASK_ARGS)  # fmt: skip
    doc = json.loads(result.stdout)
    proxy = doc["proxyConfiguration"]
    assert proxy["type"] == "APPMESH" and proxy["containerName"] == "envoy"
    assert {p["name"]: p["value"] for p in proxy["properties"]} == {
        "IgnoredUID": "1337", "ProxyIngressPort": "15000", "ProxyEgressPort": "15001", "AppPorts": "8080,9090",
        "EgressIgnoredIPs": "169.254.170.2,169.254.169.254"}  # fmt: skip
    envoy = doc["containerDefinitions"][0]
    assert envoy["user"] == "1337"
    assert {"name": "APPMESH_RESOURCE_ARN", "value": ARN} in envoy["environment"]
    assert doc["requiresCompatibilities"] == ["FARGATE" if platform == "fargate" else "EC2"]
    assert doc["networkMode"] == "awsvpc"


def test_systemd_unit_runs_the_sidecar_entrypoint_as_the_ignored_uid_behind_the_iptables_script() -> None:
    unit = bootstrap("--node-id", NODE, "--emit", "systemd", "--ads-address", "ads.internal:18000",
                     "--ads-delta").stdout  # fmt: skip
    assert "User=1337" in unit
    assert "ExecStartPre=+/usr/local/bin/meshplane-iptables.sh start" in unit
    assert f"Environment=APPMESH_VIRTUAL_NODE_NAME={NODE}\n" in unit
    assert "ExecStart=/usr/local/bin/meshplane-envoy --mode ads --platform ec2 --ads-address ads.internal:18000 " \
        "--ads-delta\n" in unit


def test_systemd_unit_quotes_and_escapes_what_systemd_would_split_or_expand(tmp_path: Path) -> None:
    """systemd splits ExecStart on spaces and expands `%` and `$` even inside quotes; the flags survive intact."""
    import shlex

    odd = "/run/my sds/%h$HOME\"agent\".sock"
    unit = bootstrap("--node-id", NODE, "--emit", "systemd", "--mode", "file", "--file-dir", odd).stdout
    (line,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    unescaped = line.removeprefix("ExecStart=").replace("%%", "%").replace("$$", "$")
    assert shlex.split(unescaped)[-2:] == ["--file-dir", odd]


def test_iptables_script_is_valid_shell_and_matches_the_proxy_configuration() -> None:
    script = REPO / "envoy_bootstrap" / "ec2" / "meshplane-iptables.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    text = script.read_text()
    for expected in ("1337", "15000", "15001", "169.254.170.2", "169.254.169.254", "APPMESH_APP_PORTS"):
        assert expected in text


def test_options_from_env_prefers_the_arn_then_the_resource_name_then_the_virtual_node_name() -> None:
    env = {"APPMESH_VIRTUAL_NODE_NAME": "mesh/a/virtualNode/c", "APPMESH_RESOURCE_NAME": "mesh/a/virtualNode/b"}
    assert BootstrapOptions.from_env(env).node_id == "mesh/a/virtualNode/b"
    assert BootstrapOptions.from_env({**env, "APPMESH_RESOURCE_ARN": ARN}).node_id == ARN
