"""Create the translated template as a CloudFormation stack on the emulator.

The stack part goes through the emulator's CloudFormation; the few types it lacks are
applied through their own APIs; the played part comes back resolved for the runtime.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshplane.local.plan import FunctionSpec, Plan, QueueSource, ScheduleSource, StreamSource, resolve_marks
from meshplane.localnet.waiting import wait_until

Clients = Callable[[str], Any]  # service name -> boto3 client bound to the emulator


@dataclass(frozen=True)
class Deployment:
    """What the stack created, resolved: physical ids, outputs and the runtime's work list."""

    stack_name: str
    outputs: dict[str, str]
    physical_ids: dict[str, str]
    functions: dict[str, FunctionSpec]
    queues: list[QueueSource]
    streams: list[StreamSource]
    schedules: list[ScheduleSource]
    applied: dict[str, str]  # logical id -> type, created through service APIs


def deploy(
    plan: Plan, stack_name: str, parameters: dict[str, str], clients: Clients, timeout: float = 60
) -> Deployment:
    cfn = clients("cloudformation")
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(plan.stack_template),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    stack = _wait_created(cfn, stack_name, timeout)
    outputs = {out["OutputKey"]: out["OutputValue"] for out in stack.get("Outputs", [])}
    summaries = cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    # the emulator lists resources whose condition is false without a logical id
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries if r.get("LogicalResourceId")}

    applied: dict[str, str] = {}
    for lid, resource in plan.applied.items():
        try:
            props = resolve_marks(resource["Properties"], outputs)
        except KeyError:
            continue  # its condition is false: the emulator produced no outputs for it
        APPLIERS[resource["Type"]](clients, f"{stack_name}-{lid}", props)
        applied[lid] = resource["Type"]

    def resolved(value: Any) -> Any:
        return resolve_marks(value, outputs)

    return Deployment(
        stack_name=stack_name,
        outputs={k: v for k, v in outputs.items() if not k.startswith("MeshplaneLocal")},
        physical_ids=physical,
        functions={
            lid: dataclasses.replace(spec, environment={k: str(v) for k, v in resolved(spec.environment).items()})
            for lid, spec in plan.functions.items()
        },
        queues=[dataclasses.replace(q, queue_arn=resolved(q.queue_arn), concurrency=int(resolved(q.concurrency)))
                for q in plan.queues],
        streams=[
            dataclasses.replace(s, stream_arn=resolved(s.stream_arn), on_failure_arn=resolved(s.on_failure_arn))
            for s in plan.streams
        ],
        schedules=[dataclasses.replace(s, expression=resolved(s.expression)) for s in plan.schedules],
        applied=applied,
    )


def _wait_created(cfn: Any, stack_name: str, timeout: float) -> dict[str, Any]:
    def created() -> dict[str, Any] | None:
        stack: dict[str, Any] = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return stack
        if not status.endswith("IN_PROGRESS"):
            raise RuntimeError(f"stack {stack_name} ended in {status}: {stack.get('StackStatusReason', '')}")
        return None

    return wait_until(created, timeout, interval=0.1, what=f"stack {stack_name} to be created")


def _bucket_policy(clients: Clients, _name: str, props: dict[str, Any]) -> None:
    """Apply the bucket policy without its conditional statements.

    moto enforces bucket policies but ignores their `Condition`, so the template's
    `aws:SecureTransport = false` deny would refuse every call, TLS or not.  The
    unconditional statements still apply; in AWS the whole policy does.
    """
    document = dict(props["PolicyDocument"])
    statements = document.get("Statement", [])
    document["Statement"] = [s for s in statements if "Condition" not in s]
    if document["Statement"]:
        clients("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(document))


def _queue_policy(clients: Clients, _name: str, props: dict[str, Any]) -> None:
    sqs = clients("sqs")
    for queue_url in props["Queues"]:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})


def _alarm(clients: Clients, name: str, props: dict[str, Any]) -> None:
    numeric = {"Period", "EvaluationPeriods", "DatapointsToAlarm"}
    args = {k: (int(v) if k in numeric else float(v) if k == "Threshold" else v) for k, v in props.items()}
    clients("cloudwatch").put_metric_alarm(AlarmName=args.pop("AlarmName", name), **args)


APPLIERS: dict[str, Callable[[Clients, str, dict[str, Any]], None]] = {
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::CloudWatch::Alarm": _alarm,
}
