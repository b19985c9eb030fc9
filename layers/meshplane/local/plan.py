"""Split the translated template into what the emulator creates and what the local runtime plays.

moto's CloudFormation cannot run Lambda without Docker, has no API Gateway stages worth
serving, and lacks a few policy/alarm types. So:
- Lambda functions, their permissions, layers, event source mappings, schedule rules and the
  REST API are *played* by the local runtime, which reads them from this same template;
- bucket policies, queue policies and alarms are *applied* through their service APIs;
- everything else is created as a real CloudFormation stack on the emulator.
Every intrinsic the runtime or the API step needs is exposed as a stack output, so the
emulator's CloudFormation resolves them and nothing here re-implements intrinsics.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLAYED_TYPES = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
        "AWS::Lambda::LayerVersion",
        "AWS::Lambda::EventSourceMapping",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::CloudFormation::Macro",  # names a played function; the emulator's CloudFormation has no macros
    }
)
APPLIED_TYPES = frozenset({"AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::CloudWatch::Alarm"})
INTRINSICS = frozenset(
    {"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::Select", "Fn::Split", "Fn::ImportValue"}
)
OUTPUT_MARK = "__meshplane_output__"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any]


@dataclass(frozen=True)
class QueueSource:
    logical_id: str
    function: str  # logical id
    queue_arn: Any
    batch_size: int
    report_failures: bool
    concurrency: Any = 1  # ScalingConfig.MaximumConcurrency (an int once deployed): pollers invoking at once


@dataclass(frozen=True)
class StreamSource:
    logical_id: str
    function: str
    stream_arn: Any
    batch_size: int
    starting_position: str
    report_failures: bool
    bisect: bool
    max_retries: int
    on_failure_arn: Any
    filters: tuple[str, ...]


@dataclass(frozen=True)
class ScheduleSource:
    logical_id: str
    function: str
    expression: Any
    rule_arn: str


@dataclass
class Plan:
    stack_template: dict[str, Any]
    applied: dict[str, dict[str, Any]]  # logical id -> resource (with output marks)
    functions: dict[str, FunctionSpec]
    queues: list[QueueSource] = field(default_factory=list)
    streams: list[StreamSource] = field(default_factory=list)
    schedules: list[ScheduleSource] = field(default_factory=list)
    played: dict[str, str] = field(default_factory=dict)  # logical id -> type


def function_name(stack: str, logical_id: str) -> str:
    return f"{stack}-{logical_id}"[:64]


def _is_played(resource: dict[str, Any]) -> bool:
    if resource["Type"] in PLAYED_TYPES:
        return True
    props = resource.get("Properties", {})
    return resource["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in props


class _Literals:
    """Replaces references to played resources with the literal names/ARNs the runtime uses."""

    def __init__(self, names: dict[str, str], arns: dict[str, str]) -> None:
        self.names, self.arns = names, arns

    def apply(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.apply(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"} and node["Ref"] in self.names:
            return self.names[node["Ref"]]
        if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in self.names:
            return self.arns[node["Fn::GetAtt"][0]]
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            return {"Fn::Sub": self._sub(node["Fn::Sub"])}
        return {key: self.apply(value) for key, value in node.items()}

    def _sub(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            ref, _, attr = match[1].partition(".")
            if ref not in self.names:
                return match[0]
            return self.arns[ref] if attr else self.names[ref]

        return re.sub(r"\$\{([A-Za-z0-9]+(?:\.[A-Za-z]+)?)\}", replace, text)

    def mentions(self, node: Any) -> bool:
        text = json.dumps(node)
        return any(f'"{name}"' in text or f"${{{name}" in text for name in self.names)


class _Outputs:
    """Moves intrinsic leaves into stack outputs and leaves a mark to substitute later."""

    def __init__(self) -> None:
        self.outputs: dict[str, dict[str, Any]] = {}

    def expose(self, node: Any, condition: str | None) -> Any:
        if isinstance(node, list):
            return [self.expose(item, condition) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1 and next(iter(node)) in INTRINSICS:
            name = f"MeshplaneLocal{len(self.outputs)}"
            self.outputs[name] = {"Value": node, **({"Condition": condition} if condition else {})}
            return {OUTPUT_MARK: name}
        return {key: self.expose(value, condition) for key, value in node.items()}


def resolve_marks(node: Any, outputs: dict[str, str]) -> Any:
    """Substitute output marks with the values the emulator's CloudFormation resolved."""
    if isinstance(node, list):
        return [resolve_marks(item, outputs) for item in node]
    if isinstance(node, dict):
        if set(node) == {OUTPUT_MARK}:
            return outputs[node[OUTPUT_MARK]]
        return {key: resolve_marks(value, outputs) for key, value in node.items()}
    return node


def make_plan(
    template: dict[str, Any], code_dirs: dict[str, Path], stack: str, region: str, account: str
) -> Plan:
    """Pure: the translated template in, the stack template and the runtime's work list out."""
    resources: dict[str, dict[str, Any]] = copy.deepcopy(template["Resources"])
    played = {lid: res for lid, res in resources.items() if _is_played(res)}
    names = {lid: function_name(stack, lid) for lid in played}
    arns = {lid: _played_arn(res["Type"], names[lid], region, account) for lid, res in played.items()}
    literals = _Literals(names, arns)
    outputs = _Outputs()
    kept, applied = _emulated(resources, played, literals, outputs)
    plan = Plan(stack_template={}, applied=applied, functions={}, played={lid: r["Type"] for lid, r in played.items()})
    for lid, res in played.items():
        if res["Type"] == "AWS::Lambda::Function":
            props = literals.apply(res.get("Properties", {}))
            plan.functions[lid] = _function_spec(lid, names[lid], arns[lid], code_dirs[lid], props, outputs)
    _add_event_sources(plan, played, literals, outputs)
    stack_outputs = {
        name: out for name, out in template.get("Outputs", {}).items() if not literals.mentions(out["Value"])
    }
    plan.stack_template = {
        **{key: value for key, value in template.items() if key not in ("Resources", "Outputs")},
        "Resources": kept,
        "Outputs": {**stack_outputs, **outputs.outputs},
    }
    return plan


def _played_arn(resource_type: str, name: str, region: str, account: str) -> str:
    """The ARN the local runtime answers to for a played resource."""
    if resource_type == "AWS::Lambda::Function":
        return f"arn:aws:lambda:{region}:{account}:function:{name}"
    if resource_type == "AWS::Events::Rule":
        return f"arn:aws:events:{region}:{account}:rule/{name}"
    return f"arn:aws:local:{region}:{account}:{name}"


def _emulated(
    resources: dict[str, dict[str, Any]], played: dict[str, Any], literals: _Literals, outputs: _Outputs
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The resources the emulator's stack creates, and those applied through their service APIs."""
    kept: dict[str, dict[str, Any]] = {}
    applied: dict[str, dict[str, Any]] = {}
    for lid, res in resources.items():
        if lid in played:
            continue
        res = literals.apply(res)
        if isinstance(res.get("DependsOn"), list | str):
            deps = [res["DependsOn"]] if isinstance(res["DependsOn"], str) else res["DependsOn"]
            res["DependsOn"] = [dep for dep in deps if dep not in played]
            if not res["DependsOn"]:
                del res["DependsOn"]
        if res["Type"] in APPLIED_TYPES:
            res["Properties"] = outputs.expose(res.get("Properties", {}), res.get("Condition"))
            applied[lid] = res
        else:
            kept[lid] = res
    return kept, applied


def _function_spec(
    lid: str, name: str, arn: str, code_dir: Path, props: dict[str, Any], outputs: _Outputs
) -> FunctionSpec:
    return FunctionSpec(
        logical_id=lid,
        name=name,
        arn=arn,
        code_dir=code_dir,
        handler=props["Handler"],
        timeout=int(props.get("Timeout", 3)),
        memory=int(props.get("MemorySize", 128)),
        environment=outputs.expose(props.get("Environment", {}).get("Variables", {}), None),
    )


def _add_event_sources(plan: Plan, played: dict[str, Any], literals: _Literals, outputs: _Outputs) -> None:
    """The event source mappings and schedule rules that invoke the played functions."""
    by_name = {spec.name: lid for lid, spec in plan.functions.items()}
    by_arn = {spec.arn: lid for lid, spec in plan.functions.items()}
    for lid, res in played.items():
        props = literals.apply(res.get("Properties", {}))
        if res["Type"] == "AWS::Lambda::EventSourceMapping":
            _add_mapping(plan, lid, props, by_name[props["FunctionName"]], outputs)
        elif res["Type"] == "AWS::Events::Rule":
            for target in props.get("Targets", []):
                if target["Arn"] in by_arn:
                    expression = outputs.expose(props["ScheduleExpression"], None)
                    plan.schedules.append(ScheduleSource(lid, by_arn[target["Arn"]], expression, literals.arns[lid]))


def _add_mapping(plan: Plan, lid: str, props: dict[str, Any], function: str, outputs: _Outputs) -> None:
    source_arn = outputs.expose(props["EventSourceArn"], None)
    report = "ReportBatchItemFailures" in props.get("FunctionResponseTypes", [])
    if "StartingPosition" not in props:  # SQS has no starting position; streams must have one
        concurrency = outputs.expose(props.get("ScalingConfig", {}).get("MaximumConcurrency", 1), None)
        plan.queues.append(QueueSource(lid, function, source_arn, int(props.get("BatchSize", 10)), report,
                                       concurrency))
        return
    on_failure = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    filters = tuple(f["Pattern"] for f in props.get("FilterCriteria", {}).get("Filters", []))
    plan.streams.append(
        StreamSource(
            logical_id=lid,
            function=function,
            stream_arn=source_arn,
            batch_size=int(props.get("BatchSize", 100)),
            starting_position=props["StartingPosition"],
            report_failures=report,
            bisect=bool(props.get("BisectBatchOnFunctionError", False)),
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
            on_failure_arn=outputs.expose(on_failure, None) if on_failure else None,
            filters=filters,
        )
    )
