"""`meshplane bootstrap --emit task-definition`: both modes complete (Envoy, its feeder, the shared volume, the role),
the emitted command reproduces every flag given, the ECS API accepts the result, and what cannot be defaulted
safely is a clear error. The committed examples in envoy_bootstrap/ecs/ are what the generator prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from meshplane.bootstrap.cli import options_from
from meshplane.bootstrap.command import HEALTH_CHECK
from meshplane.cli import build_parser
from moto import mock_aws

from .test_bootstrap import REPO, bootstrap

NODE = "mesh/shop/virtualNode/web"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/meshplane-envoy:0.1.0"
ROLE = "arn:aws:iam::123456789012:role/shop-web-envoy"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
ADS_HOST = "meshplane-ads-0123456789abcdef.elb.us-east-1.amazonaws.com"
ADS = f"{ADS_HOST}:18000"
EXCHANGE = f"{ADS_HOST}:18001"
BUCKET = "meshplane-snapshotbucket-1a2b3c4d5e6f"
TABLE = "meshplane-StateTable-1A2B3C4D5E6F"
COMMON = ("--node-id", NODE, "--image", IMAGE, "--task-role-arn", ROLE, "--bucket", BUCKET)
ADS_ARGS = (*COMMON, "--ads-address", ADS)
FILE_ARGS = (*COMMON, "--mode", "file", "--table", TABLE)


def emitted(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = bootstrap("--emit", "task-definition", *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def containers(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document["containerDefinitions"]}


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["environment"]}


@pytest.mark.parametrize("platform", ["fargate", "ecs-ec2"])
def test_ads_mode_runs_envoy_after_the_identity_agent_on_a_shared_volume_under_the_task_role(platform: str) -> None:
    doc = emitted(*ADS_ARGS, "--platform", platform, "--execution-role-arn", EXECUTION_ROLE,
                  "--ads-server-name", ADS_HOST, "--identity-address", EXCHANGE)  # fmt: skip
    assert doc["taskRoleArn"] == ROLE and doc["executionRoleArn"] == EXECUTION_ROLE
    assert doc["requiresCompatibilities"] == ["FARGATE" if platform == "fargate" else "EC2"]
    envoy, identity = containers(doc)["envoy"], containers(doc)["meshplane-identity"]
    assert envoy["image"] == identity["image"] == IMAGE
    assert envoy["user"] == identity["user"] == "1337", "Envoy reads the 0600 key the agent writes"
    assert envoy["entryPoint"] == ["/usr/local/bin/meshplane-envoy"]
    assert envoy["dependsOn"] == [{"containerName": "meshplane-identity", "condition": "HEALTHY"}]
    (volume,) = doc["volumes"]
    assert envoy["mountPoints"] == [{"sourceVolume": volume["name"], "containerPath": "/etc/meshplane/identity",
                                     "readOnly": True}]  # fmt: skip
    assert identity["mountPoints"] == [{"sourceVolume": volume["name"], "containerPath": "/etc/meshplane/identity"}]
    assert [*identity["entryPoint"], *identity["command"]] == [
        "meshplane", "identity", "--ads-address", ADS, "--dir", "/etc/meshplane/identity",
        "--exchange-address", EXCHANGE, "--server-name", ADS_HOST]  # fmt: skip
    assert env_of(identity) == {"APPMESH_VIRTUAL_NODE_NAME": NODE, "MESHPLANE_BUCKET": BUCKET}
    ready = "test -f /etc/meshplane/identity/ads-client-certificate.json"
    assert identity["healthCheck"]["command"] == ["CMD-SHELL", ready]
    assert envoy["healthCheck"]["command"] == ["CMD-SHELL", HEALTH_CHECK]


def test_file_mode_runs_envoy_after_the_agent_on_a_shared_volume_under_the_task_role() -> None:
    doc = emitted(*FILE_ARGS, "--platform", "fargate", "--file-dir", "/etc/envoy/xds")
    assert doc["taskRoleArn"] == ROLE and "executionRoleArn" not in doc
    envoy, agent = containers(doc)["envoy"], containers(doc)["meshplane-agent"]
    assert agent["image"] == IMAGE and agent["user"] == "1337" and agent["essential"] is True
    assert [*agent["entryPoint"], *agent["command"]] == ["meshplane", "agent", "--node-id", NODE, "--dir",
                                                         "/etc/envoy/xds"]  # fmt: skip
    assert env_of(agent) == {"MESHPLANE_BUCKET": BUCKET, "MESHPLANE_TABLE": TABLE}
    assert agent["healthCheck"]["command"] == ["CMD-SHELL", "test -f /etc/envoy/xds/lds/lds.pb"]
    assert envoy["dependsOn"] == [{"containerName": "meshplane-agent", "condition": "HEALTHY"}]
    (volume,) = doc["volumes"]
    assert envoy["mountPoints"] == [{"sourceVolume": volume["name"], "containerPath": "/etc/envoy/xds",
                                     "readOnly": True}]  # fmt: skip
    assert agent["mountPoints"] == [{"sourceVolume": volume["name"], "containerPath": "/etc/envoy/xds"}]
    assert envoy["command"][:2] == ["--mode", "file"] and "meshplane-identity" not in containers(doc)


def test_the_file_agent_reads_the_table_from_its_environment_and_records_its_status_there() -> None:
    """The agent container's command and environment, parsed as `meshplane agent` parses them in the task, name
    the table: the agent then records each apply as its Envoy's status (`delivery.cli._agent_status`)."""
    agent = containers(emitted(*FILE_ARGS))["meshplane-agent"]
    args = build_parser(env_of(agent)).parse_args(agent["command"])
    assert (args.table, args.bucket, args.once) == (TABLE, BUCKET, False)


def test_own_certificates_replace_the_identity_agent() -> None:
    doc = emitted(*ADS_ARGS, "--ads-tls-ca", "/certs/ca.pem", "--ads-tls-cert", "/certs/web.pem",
                  "--ads-tls-key", "/certs/web.key")  # fmt: skip
    assert list(containers(doc)) == ["envoy"] and "volumes" not in doc
    assert "--ads-identity-dir" not in containers(doc)["envoy"]["command"]


FLAG_SETS = {
    "ads-delta-own-pki": ("--ads-delta", "--ads-tls-ca", "/certs/ca.pem", "--ads-tls-cert", "/certs/web.pem",
                          "--ads-tls-key", "/certs/web.key"),
    "ads-identity": ("--ads-delta", "--ads-identity-dir", "/var/run/identity", "--ads-server-name", "ads.internal",
                     "--ads-tls-ca", "/certs/ca.pem", "--bind-address", "10.1.2.3", "--admin-port", "9902"),
    "ads-default-identity": ("--platform", "ecs-ec2", "--cluster", "web-cluster", "--initial-fetch-timeout", "2.5"),
    "file": ("--mode", "file", "--table", TABLE, "--file-dir", "/srv/xds", "--bind-address", "10.1.2.3",
             "--sds-socket", "/run/spire/agent.sock"),
    "tracing-and-stats": ("--xray", "--xray-port", "2001", "--xray-sampling-rate", "0.2", "--stats-tags",
                          "--dogstatsd", "--statsd-address", "10.0.0.5", "--statsd-port", "8126"),
    "stats-default-sink": ("--dogstatsd", "--xray"),
}  # fmt: skip


@pytest.mark.parametrize("flags", list(FLAG_SETS.values()), ids=list(FLAG_SETS))
def test_the_emitted_command_and_environment_parse_back_to_the_flags_given(flags: tuple[str, ...]) -> None:
    """The Envoy container's command and environment, read by `meshplane bootstrap` as the entrypoint hands them
    over, give exactly the options the flags gave (the identity directory defaults to where the agent writes)."""
    parser = build_parser()
    given = parser.parse_args(["bootstrap", *(ADS_ARGS if "--mode" not in flags else COMMON), *flags])
    envoy = containers(emitted(*(ADS_ARGS if "--mode" not in flags else COMMON), *flags))["envoy"]
    rendered = parser.parse_args(["bootstrap", *envoy["command"]])
    for flag in ("ads_delta", "ads_tls_ca", "ads_tls_cert", "ads_tls_key", "ads_server_name", "ads_address",
                 "file_dir", "bind_address", "mode"):  # fmt: skip
        if getattr(given, flag) is not None:
            assert getattr(rendered, flag) == getattr(given, flag), flag
    expected = options_from(given, {})
    if expected.mode == "ads" and not expected.ads_tls_cert and not expected.ads_identity_dir:
        assert rendered.ads_identity_dir == "/etc/meshplane/identity"
        expected = expected.with_overrides(ads_identity_dir="/etc/meshplane/identity")
    assert options_from(rendered, env_of(envoy)) == expected


def test_variables_added_to_the_emitted_environment_later_meet_no_stale_default() -> None:
    """App Mesh users add their tracing and stats variables to the Envoy container; a default the generator wrote
    for a feature that is off (a sampling rate beside a rule manifest) would make the render refuse the pair."""
    envoy = containers(emitted(*ADS_ARGS))["envoy"]
    assert not {k for k in env_of(envoy) if "XRAY" in k or "STATSD" in k or "STATS" in k}
    added = {"ENABLE_ENVOY_XRAY_TRACING": "1", "XRAY_SAMPLING_RULE_MANIFEST": "/etc/xray/rules.json",
             "ENVOY_STATS_SINKS_CFG_FILE": "/etc/envoy/sinks.yaml"}  # fmt: skip
    options = options_from(build_parser().parse_args(["bootstrap", *envoy["command"]]), {**env_of(envoy), **added})
    assert options.xray and options.xray_sampling_manifest == "/etc/xray/rules.json"


def register(document: dict[str, Any]) -> dict[str, Any]:
    """Register the document with an app container beside it that waits for Envoy, as App Mesh required."""
    app = {"name": "app", "image": "app:latest", "essential": True, "portMappings": [{"containerPort": 8080}],
           "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}]}  # fmt: skip
    merged = {**document, "containerDefinitions": [app, *document["containerDefinitions"]]}
    with mock_aws():
        ecs = boto3.client("ecs", region_name="us-east-1")
        registered = ecs.register_task_definition(family="web", cpu="256", memory="512", **merged)
    return registered["taskDefinition"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("platform", ["fargate", "ecs-ec2"])
@pytest.mark.parametrize("args", [ADS_ARGS, FILE_ARGS], ids=["ads", "file"])
def test_both_modes_are_accepted_by_the_ecs_api(args: tuple[str, ...], platform: str) -> None:
    document = emitted(*args, "--platform", platform, "--execution-role-arn", EXECUTION_ROLE)
    registered = register(document)
    assert registered["taskRoleArn"] == ROLE and registered["proxyConfiguration"]["type"] == "APPMESH"
    names = [c["name"] for c in registered["containerDefinitions"]]
    assert names == ["app", "envoy", "meshplane-identity" if args == ADS_ARGS else "meshplane-agent"]
    assert registered["volumes"] == document["volumes"]


def test_the_address_image_bucket_and_exchange_come_from_the_environment() -> None:
    env = {"MESHPLANE_ADS_ADDRESS": ADS, "MESHPLANE_ENVOY_IMAGE": IMAGE, "MESHPLANE_BUCKET": BUCKET,
           "MESHPLANE_IDENTITY_ADDRESS": "exchange.internal:18001"}  # fmt: skip
    doc = emitted("--node-id", NODE, "--task-role-arn", ROLE, env=env)
    envoy, identity = containers(doc)["envoy"], containers(doc)["meshplane-identity"]
    assert envoy["image"] == IMAGE and envoy["command"][envoy["command"].index("--ads-address") + 1] == ADS
    assert identity["command"][identity["command"].index("--exchange-address") + 1] == "exchange.internal:18001"
    assert env_of(identity)["MESHPLANE_BUCKET"] == BUCKET


MISTAKES = {
    "no image": ((*ADS_ARGS[:2], *ADS_ARGS[4:]), "--image or MESHPLANE_ENVOY_IMAGE"),
    "no role": ((*ADS_ARGS[:4], *ADS_ARGS[6:]), "--task-role-arn"),
    "no ADS address": (COMMON, "AdsEndpoint"),
    "ADS without bucket": ((*ADS_ARGS[:6], *ADS_ARGS[8:]), "node CA"),
    "file mode without bucket": ((*COMMON[:6], "--mode", "file", "--table", TABLE), "SnapshotBucketName"),
    "file mode without table": ((*COMMON, "--mode", "file"), "--table or MESHPLANE_TABLE (the stack's StateTableName"),
    "a user ARN": ((*ADS_ARGS, "--task-role-arn", "arn:aws:iam::123456789012:user/bob"), "not an IAM role ARN"),
    "a short account": ((*ADS_ARGS, "--execution-role-arn", "arn:aws:iam::1234:role/x"), "--execution-role-arn"),
    "an image with a space": ((*ADS_ARGS, "--image", "meshplane envoy"), "--image"),
    "a port that is no number": ((*ADS_ARGS, "--app-ports", "8080,http"), "--app-ports"),
    "Envoy's ingress port": ((*ADS_ARGS, "--app-ports", "15000"), "15000"),
    "the admin port": ((*ADS_ARGS, "--app-ports", "8080,9901"), "admin"),
    "no port at all": ((*ADS_ARGS, "--app-ports", ","), "--app-ports"),
}


@pytest.mark.parametrize(("args", "named"), list(MISTAKES.values()), ids=list(MISTAKES))
def test_what_cannot_be_defaulted_safely_is_a_clear_error(args: tuple[str, ...], named: str) -> None:
    result = bootstrap("--emit", "task-definition", *args)
    assert result.returncode == 2, result.stdout
    assert named in result.stderr and "meshplane bootstrap:" in result.stderr and "Traceback" not in result.stderr


EXAMPLE_ARGS = ("--node-id", "mesh/my-mesh/virtualNode/my-node", "--image",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/meshplane-envoy:0.1.0", "--task-role-arn",
                "arn:aws:iam::123456789012:role/my-node-envoy", "--execution-role-arn",
                "arn:aws:iam::123456789012:role/ecsTaskExecutionRole", "--bucket", "my-stack-snapshotbucket-example",
                "--app-ports", "8080")  # fmt: skip
EXAMPLES = {
    "fargate-task-definition.json": ("--platform", "fargate", "--ads-address",
                                     "my-stack-ads-0123456789.elb.us-east-1.amazonaws.com:18000"),
    "ec2-task-definition.json": ("--platform", "ecs-ec2", "--ads-address",
                                 "my-stack-ads-0123456789.elb.us-east-1.amazonaws.com:18000"),
    "fargate-file-task-definition.json": ("--platform", "fargate", "--mode", "file", "--table",
                                          "my-stack-StateTable-example"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_the_committed_examples_are_what_the_generator_prints(name: str) -> None:
    path: Path = REPO / "envoy_bootstrap" / "ecs" / name
    assert json.loads(path.read_text()) == emitted(*EXAMPLE_ARGS, *EXAMPLES[name])
