"""The template's ADS fan-out: the Fargate command, the replica queue names it yields and the task role agree."""

from __future__ import annotations

import argparse
import fnmatch
import re
from pathlib import Path
from typing import Any

from meshplane.delivery import cli
from meshplane.delivery.replica import new_replica_id, queue_name
from meshplane.local.iam_evaluator import Decision, Policy, Request, evaluate
from meshplane.publication.layout import POINTER_PREFIX
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
PSEUDO = {"AWS::StackName": "shop-mesh", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333",
          "AWS::Partition": "aws", "AdsPort": "18000", "AdsCacheMb": "384", "SnapshotBucket": "b", "StateTable": "t",
          "ConfigPublishedTopic": "arn:aws:sns:eu-west-1:111122223333:shop-mesh-config-published",
          "AdsCaSecret": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:ca-AbCdEf",
          "AdsLoadBalancer.DNSName": "ads-123.elb.eu-west-1.amazonaws.com", "AdsIdentityPort": "18001",
          "SnapshotBucket.Arn": "arn:aws:s3:::b",
          "StateTable.Arn": "arn:aws:dynamodb:eu-west-1:111122223333:table/t"}  # fmt: skip


def resources() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())["Resources"]


def sub(value: Any) -> str:
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO[m.group(1)], text)


def ads_statements() -> list[dict[str, Any]]:
    policies = resources()["AdsTaskRole"]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def ads_command() -> argparse.Namespace:
    """The Fargate container's `meshplane ads` command as the CLI parses it."""
    (container,) = resources()["AdsTaskDefinition"]["Properties"]["ContainerDefinitions"]
    command = [sub(part) for part in container["Command"]]
    assert command[:2] == ["meshplane", "ads"]
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    return parser.parse_args(command[1:])


def test_each_fargate_replica_names_its_queue_inside_the_task_roles_sqs_permission() -> None:
    args = ads_command()
    assert args.topic_arn == PSEUDO["ConfigPublishedTopic"] and args.queue_url is None

    queue_arn = f"arn:aws:sqs:eu-west-1:111122223333:{queue_name(args.queue_prefix, new_replica_id())}"
    sqs = [s for s in ads_statements() if any(a.startswith("sqs:") for a in s["Action"])]
    assert len(sqs) == 1
    assert fnmatch.fnmatchcase(queue_arn, sub(sqs[0]["Resource"]))
    assert sub(sqs[0]["Resource"]).endswith(":shop-mesh-ads-*")
    assert {"sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:DeleteQueue", "sqs:ReceiveMessage"} <= set(
        sqs[0]["Action"]
    )


def test_the_fargate_command_bounds_the_idle_cache_by_the_ads_cache_mb_parameter() -> None:
    assert ads_command().cache_mb == 384  # the stack parameter, not the CLI's default
    parameter = yaml_parse(TEMPLATE.read_text())["Parameters"]["AdsCacheMb"]
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    assert parameter["Default"] == parser.parse_args(["ads"]).cache_mb


def test_the_task_role_may_subscribe_only_to_the_config_published_topic() -> None:
    sns = [s for s in ads_statements() if any(a.startswith("sns:") for a in s["Action"])]
    assert len(sns) == 1
    assert set(sns[0]["Action"]) == {"sns:Subscribe", "sns:Unsubscribe"}
    assert sns[0]["Resource"] == {"Ref": "ConfigPublishedTopic"}


def test_config_published_reaches_the_topic_and_only_that_rule_may_publish_to_it() -> None:
    res = resources()
    rule = res["ConfigPublishedTopicRule"]["Properties"]
    assert rule["EventPattern"] == {"source": ["meshplane.pipeline"], "detail-type": ["ConfigPublished"]}
    assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": "ConfigPublishedTopic"}]
    (statement,) = res["ConfigPublishedTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sns:Publish"
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["ConfigPublishedTopicRule", "Arn"]}
    assert all(res[lid].get("Condition") == "AdsEnabled" for lid in
               ("ConfigPublishedTopic", "ConfigPublishedTopicRule", "ConfigPublishedTopicPolicy"))  # fmt: skip


def test_the_fargate_ads_serves_tls_and_requires_node_certificates_from_the_stacks_ca() -> None:
    args = ads_command()
    assert args.ca_secret_arn == PSEUDO["AdsCaSecret"]
    assert args.server_name == PSEUDO["AdsLoadBalancer.DNSName"]
    assert args.identity_port == 18001
    assert args.require_node_identity in (None, True)  # None: on, because a node CA is configured
    assert args.tls_client_ca is None and args.tls_cert is None  # certificates come from the CA, not files


def test_the_ads_task_role_reaches_only_its_own_ca_secret_and_ca_certificate_object() -> None:
    def actions(statement: dict[str, Any]) -> list[str]:
        return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]

    by_action = {action: s for s in ads_statements() for action in actions(s)}
    assert by_action["secretsmanager:PutSecretValue"]["Resource"] == {"Ref": "AdsCaSecret"}
    assert sub(by_action["s3:PutObject"]["Resource"]) == "arn:aws:s3:::b/identity/ca.pem"


def test_the_ads_target_groups_preserve_client_addresses_for_the_per_peer_limits() -> None:
    for name in ("AdsTargetGroup", "AdsIdentityTargetGroup"):
        attributes = {a["Key"]: a["Value"] for a in resources()[name]["Properties"]["TargetGroupAttributes"]}
        assert attributes["preserve_client_ip.enabled"] == "true", name


def test_the_ads_task_declares_the_images_health_check_since_ecs_ignores_the_images_own() -> None:
    (container,) = resources()["AdsTaskDefinition"]["Properties"]["ContainerDefinitions"]
    command = container["HealthCheck"]["Command"]
    assert command[0] == "CMD"
    dockerfile = (TEMPLATE.parent / "envoy_bootstrap" / "image" / "Dockerfile").read_text()
    assert f"/usr/local/bin/{command[1]}" in dockerfile


def _arn(value: Any) -> Any:
    if isinstance(value, list):
        return [_arn(v) for v in value]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return PSEUDO[".".join(value["Fn::GetAtt"])]
    if isinstance(value, dict) and "Ref" in value:
        return PSEUDO.get(value["Ref"], value["Ref"])
    return sub(value)


def _ads_policy() -> Policy:
    statements = [{**s, "Resource": _arn(s["Resource"])} for s in ads_statements()]
    return Policy("AdsTaskRole", "IAM Policy", {"Statement": statements})


def test_the_task_role_lets_the_startup_preload_list_the_pointers_and_nothing_else() -> None:
    policy = _ads_policy()

    def decision(action: str, resource: str, prefix: str) -> Decision:
        return evaluate([policy], Request(action, resource, {"s3:prefix": (prefix,)})).decision

    bucket = PSEUDO["SnapshotBucket.Arn"]
    assert decision("s3:ListBucket", bucket, POINTER_PREFIX) is Decision.ALLOWED
    assert decision("s3:ListBucket", bucket, "snapshots/") is Decision.IMPLICIT_DENY
    assert decision("s3:ListBucket", bucket, "") is Decision.IMPLICIT_DENY
    assert decision("s3:GetObject", f"{bucket}/{POINTER_PREFIX}proxy", "") is Decision.ALLOWED
