"""What the deployed stack must get right that the emulator cannot show: identity, policies' sources, alarms, logs.

The checks read template.yaml as SAM translates it (the same translation `meshplane local up`
deploys), so resources SAM generates, such as the reconcile's schedule rule, are checked too.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from meshplane.local.template import translate
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
POLICY_TYPES = {"AWS::SQS::QueuePolicy": "Queues", "AWS::SNS::TopicPolicy": "Topics", "AWS::S3::BucketPolicy": "Bucket"}
SOURCE_KEYS = {"aws:SourceArn", "aws:SourceAccount"}
STACK_ACCOUNT = {"MESHPLANE_ACCOUNT_ID": {"Ref": "AWS::AccountId"}, "MESHPLANE_PARTITION": {"Ref": "AWS::Partition"}}


@cache
def source() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


@cache
def translated() -> dict[str, Any]:
    """Every resource, conditional ones included (the conditions stay on them)."""
    return translate(TEMPLATE, {}, "us-east-1", "123456789012").body


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in template["Resources"].items() if res["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---- account and partition --------------------------------------------------------------
def test_every_function_takes_account_and_partition_from_the_stack() -> None:
    functions = of_type(source(), "AWS::Serverless::Function")
    assert len(functions) >= 5  # api, ecs_events, cloudmap_events, recompute, reconcile
    for lid, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert {k: variables.get(k) for k in STACK_ACCOUNT} == STACK_ACCOUNT, lid


def test_the_ads_task_takes_account_and_partition_from_the_stack() -> None:
    (container,) = source()["Resources"]["AdsTaskDefinition"]["Properties"]["ContainerDefinitions"]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert {k: environment.get(k) for k in STACK_ACCOUNT} == STACK_ACCOUNT


# ---- every resource policy names its source ------------------------------------------------
def _sources(statement: dict[str, Any]) -> dict[str, Any]:
    return {key: value for test in (statement.get("Condition") or {}).values() for key, value in test.items()
            if key in SOURCE_KEYS}


def _service_statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for kind in POLICY_TYPES:
        for lid, policy in of_type(translated(), kind).items():
            for statement in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
                if statement["Effect"] == "Allow" and "Service" in (statement.get("Principal") or {}):
                    found.append((lid, statement))
    return found


def test_every_statement_that_lets_an_aws_service_in_names_the_source_it_serves() -> None:
    statements = _service_statements()
    policies = {lid for lid, _ in statements}
    assert {"ReconcileDeadLetterQueuePolicy", "ConfigPublishedQueuePolicy", "DiscoveryQueuesPolicy",
            "ConfigPublishedTopicPolicy", "CloudTrailBucketPolicy"} <= policies
    missing = [(lid, statement.get("Sid"), statement["Action"]) for lid, statement in statements
               if not _sources(statement)]
    assert missing == []


def _targets_of_rule(rule: dict[str, Any]) -> list[Any]:
    """What a rule may send to: its targets and their dead-letter queues."""
    sent = []
    for target in rule["Properties"].get("Targets", []):
        sent.append(target["Arn"])
        if "DeadLetterConfig" in target:
            sent.append(target["DeadLetterConfig"]["Arn"])
    return sent


def test_an_events_statement_names_the_rule_that_really_sends_to_that_resource() -> None:
    """aws:SourceArn = !GetAtt <rule>.Arn, and that rule targets (or dead-letters to) the statement's resource."""
    rules = of_type(translated(), "AWS::Events::Rule")
    checked = 0
    for lid, statement in _service_statements():
        if statement["Principal"]["Service"] != "events.amazonaws.com":
            continue
        source_arn = _sources(statement).get("aws:SourceArn")
        assert isinstance(source_arn, dict) and "Fn::GetAtt" in source_arn, (lid, source_arn)
        rule_id, attribute = source_arn["Fn::GetAtt"]
        assert attribute == "Arn" and rule_id in rules, (lid, rule_id)
        resource = statement["Resource"]
        wanted = resource if "Fn::GetAtt" in resource else {"Ref": resource["Ref"]}
        assert wanted in _targets_of_rule(rules[rule_id]), (lid, rule_id, resource)
        checked += 1
    assert checked >= 5  # config queue, config topic, ECS and Cloud Map queues, the reconcile's dead letters


def test_the_reconcile_dead_letter_queue_accepts_only_the_reconcile_schedule() -> None:
    (statement,) = source()["Resources"]["ReconcileDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"]
    assert _sources(statement) == {"aws:SourceArn": {"Fn::GetAtt": ["ReconcileFunctionPeriodic", "Arn"]}}
    rule = translated()["Resources"]["ReconcileFunctionPeriodic"]
    assert {"Fn::GetAtt": ["ReconcileDeadLetterQueue", "Arn"]} in _targets_of_rule(rule)


# ---- alarms reach someone ----------------------------------------------------------------
def test_an_alarm_email_subscribes_to_the_alarm_topic_and_the_topic_is_an_output() -> None:
    template = source()
    parameter = template["Parameters"]["AlarmEmail"]
    assert parameter["Default"] == ""
    condition = template["Conditions"]["HasAlarmEmail"]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    (subscription,) = of_type(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email",
                                          "Endpoint": {"Ref": "AlarmEmail"}}
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    assert alarms and all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())


# ---- API access logs --------------------------------------------------------------------
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "caller": "$context.identity.caller",
    "principal": "$context.identity.userArn",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
}


def test_the_api_writes_json_access_logs_with_who_what_and_how_long_to_a_retained_log_group() -> None:
    template = source()
    setting = template["Resources"]["MeshplaneApi"]["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    # numbers stay unquoted in the format; quoting them here makes each value its $context variable's name
    record = json.loads(re.sub(r'(?<!")(\$context\.[A-Za-z.]+)(?!")', r'"\1"', setting["Format"]))
    assert {field: record.get(field) for field in ACCESS_LOG_FIELDS} == ACCESS_LOG_FIELDS
    group = template["Resources"]["ApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_api_gateway_may_write_logs_before_the_stage_asks_it_to() -> None:
    """A REST API stage with logging fails to create unless the region's API Gateway account names a role."""
    template = source()
    account = template["Resources"]["ApiGatewayAccount"]
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    role = template["Resources"]["ApiGatewayCloudWatchRole"]
    assert role["DeletionPolicy"] == "Retain"  # other APIs of the account log through it after this stack is gone
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert account.get("Condition") == role.get("Condition") == "ManageApiGatewayAccount"
    # the API waits for the account setting whenever the stack manages it
    api = translated()["Resources"]["MeshplaneApi"]
    waits = as_list(api.get("DependsOn", []))
    assert "ApiGatewayAccountReady" in waits
    ready = template["Resources"]["ApiGatewayAccountReady"]
    assert ready["Metadata"]["ApiGatewayAccount"] == {
        "Fn::If": ["ManageApiGatewayAccount", {"Ref": "ApiGatewayAccount"}, ""]}


# ---- the optional CloudTrail trail ---------------------------------------------------------
@pytest.fixture(scope="module")
def trail_resources() -> dict[str, dict[str, Any]]:
    template = source()
    assert template["Parameters"]["CreateCloudTrailTrail"]["Default"] == "false"
    return {lid: res for lid, res in template["Resources"].items() if res.get("Condition") == "CreateTrail"}


def test_the_trail_is_opt_in_and_logs_write_management_events_with_validation(
    trail_resources: dict[str, dict[str, Any]],
) -> None:
    assert source()["Conditions"]["CreateTrail"] == {"Fn::Equals": [{"Ref": "CreateCloudTrailTrail"}, "true"]}
    assert set(trail_resources) == {"CloudTrailBucket", "CloudTrailBucketPolicy", "CloudTrailTrail"}
    trail = trail_resources["CloudTrailTrail"]
    assert trail["DependsOn"] == "CloudTrailBucketPolicy"
    props = trail["Properties"]
    assert props["IsLogging"] is True and props["EnableLogFileValidation"] is True
    assert props["S3BucketName"] == {"Ref": "CloudTrailBucket"}
    (selector,) = props["EventSelectors"]
    assert selector == {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}


def test_the_trail_bucket_is_private_encrypted_and_accepts_only_this_trail(
    trail_resources: dict[str, dict[str, Any]],
) -> None:
    bucket = trail_resources["CloudTrailBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True)
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    statements = trail_resources["CloudTrailBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    trail_arn = {"Fn::Sub": "arn:${AWS::Partition}:cloudtrail:${AWS::Region}:${AWS::AccountId}:trail/${TrailName}"}
    trail_name = trail_resources["CloudTrailTrail"]["Properties"]["TrailName"]
    allowed = [s for s in statements if s["Effect"] == "Allow"]
    assert {a for s in allowed for a in as_list(s["Action"])} == {"s3:GetBucketAcl", "s3:PutObject"}
    for statement in allowed:
        assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        (sub,) = _sources(statement).values()
        assert sub["Fn::Sub"][0] == trail_arn["Fn::Sub"] and sub["Fn::Sub"][1] == {"TrailName": trail_name}
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in statements)
