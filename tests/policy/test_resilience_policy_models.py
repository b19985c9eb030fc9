"""The zoneAware, outlierDetection, retryBudget and tracing sections refuse bad input with the field named.

Model level: wrong types, unknown fields, out-of-range values and conflicting rules each fail
validation at the location a BadRequest message names.  API level: the same mistakes sent to the
Policy API come back as BadRequestException naming the field; a section on a target kind it does
not take, a target that does not exist and a second policy giving the same section to the same
target are refused; good sections are stored and described as sent.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from api.conftest import Stack, moto_endpoint, stack
from api.specs import gateway_spec, node_spec
from meshplane.model.policy import ejection, retry_budget, tracing, zone_aware
from meshplane.model.policy.ejection import OutlierDetectionExtra
from meshplane.model.policy.retry_budget import RetryBudget
from meshplane.model.policy.tracing import Tracing
from meshplane.model.policy.zone_aware import ZoneAware
from pydantic import BaseModel, ValidationError
from support.policies import refused

__all__ = ["moto_endpoint", "stack"]  # the API's fixtures (tests/api/conftest.py)

COLLECTOR = {"hostname": "otel-collector.local", "port": 4317}


def test_target_kinds_each_section_supports() -> None:
    assert {"mesh", "virtualNode"} == zone_aware.TARGETS == ejection.TARGETS == retry_budget.TARGETS
    assert {"mesh", "virtualNode", "virtualGateway"} == tracing.TARGETS


def test_good_sections_round_trip_in_camel_case() -> None:
    bodies: list[tuple[type[BaseModel], dict[str, Any]]] = [
        (ZoneAware, {"minClusterSize": 2, "routingEnabledPercent": 50.0}),
        (OutlierDetectionExtra, {"successRate": {"minimumHosts": 3, "requestVolume": 10, "stdevFactor": 1.5},
                                 "failurePercentage": {"threshold": 40}, "interval": {"value": 500, "unit": "ms"},
                                 "baseEjectionDuration": {"value": 30, "unit": "s"}, "maxEjectionPercent": 50}),
        (RetryBudget, {"budgetPercent": 25.0, "minRetryConcurrency": 2}),
        (Tracing, {"collector": COLLECTOR, "serviceName": "checkout", "samplingPercent": 12.5}),
    ]  # fmt: skip
    for model, body in bodies:
        assert model.model_validate(body).model_dump(mode="json", by_alias=True, exclude_unset=True) == body


def test_defaults_are_envoys() -> None:
    assert ZoneAware.model_validate({}).min_cluster_size == 6  # Envoy's min_cluster_size default
    assert Tracing.model_validate({"collector": COLLECTOR}).sampling_percent == 100.0


@pytest.mark.parametrize(
    ("model", "body", "where", "says"),
    [
        (ZoneAware, {"minClusterSize": "2"}, "minClusterSize", "valid integer"),
        (ZoneAware, {"minClusterSize": 0}, "minClusterSize", "greater than or equal to 1"),
        (ZoneAware, {"routingEnabledPercent": 100.5}, "routingEnabledPercent", "less than or equal to 100"),
        (ZoneAware, {"forceLocalZone": True}, "forceLocalZone", "Extra inputs"),
        (OutlierDetectionExtra, {"successRate": {"stdevFactor": 0}}, "successRate.stdevFactor", "greater than 0"),
        (OutlierDetectionExtra, {"successRate": {"minimumHosts": 0}}, "successRate.minimumHosts", "greater than"),
        (OutlierDetectionExtra, {"failurePercentage": {}}, "failurePercentage.threshold", "Field required"),
        (OutlierDetectionExtra, {"failurePercentage": {"threshold": 101}}, "failurePercentage.threshold",
         "less than or equal to 100"),
        (OutlierDetectionExtra, {"failurePercentage": {"threshold": 50}, "interval": {"value": 1, "unit": "m"}},
         "interval.unit", "'s' or 'ms'"),
        (OutlierDetectionExtra, {"failurePercentage": {"threshold": 50}, "interval": {"value": 0, "unit": "s"}},
         "interval.value", "greater than or equal to 1"),
        (OutlierDetectionExtra, {"successRate": {}, "consecutive5xx": 3}, "consecutive5xx", "Extra inputs"),
        (RetryBudget, {"budgetPercent": "20"}, "budgetPercent", "valid number"),
        (RetryBudget, {"budgetPercent": -1.0}, "budgetPercent", "greater than or equal to 0"),
        (RetryBudget, {"maxRetries": 3}, "maxRetries", "Extra inputs"),
        (Tracing, {}, "collector", "Field required"),
        (Tracing, {"collector": {"hostname": "collector .local", "port": 4317}}, "collector.hostname",
         "not a host name"),
        (Tracing, {"collector": {"hostname": "collector.local", "port": 0}}, "collector.port", "greater than"),
        (Tracing, {"collector": COLLECTOR, "samplingPercent": 101}, "samplingPercent", "less than or equal to 100"),
        (Tracing, {"collector": COLLECTOR, "serviceName": ""}, "serviceName", "at least 1 character"),
    ],
)  # fmt: skip
def test_sections_refuse_bad_values(model: type[BaseModel], body: dict[str, Any], where: str, says: str) -> None:
    location, message = refused(model, body)
    assert location == where
    assert says in message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "set successRate, failurePercentage or both"),
        ({"interval": {"value": 1, "unit": "s"}}, "set successRate, failurePercentage or both"),
        ({"successRate": {"enforcingPercent": 0}}, "no host would ever be ejected"),
        ({"successRate": {"enforcingPercent": 0}, "failurePercentage": {"threshold": 5, "enforcingPercent": 0}},
         "no host would ever be ejected"),
    ],
)  # fmt: skip
def test_outlier_detection_refuses_sections_that_eject_nothing(body: dict[str, Any], says: str) -> None:
    location, message = refused(OutlierDetectionExtra, body)
    assert location == ""
    assert says in message


def test_sections_are_frozen_so_resolved_views_can_share_them() -> None:
    budget = RetryBudget.model_validate({"budgetPercent": 20.0})
    with pytest.raises(ValidationError, match="frozen"):
        budget.budget_percent = 50.0


# -- through the API: a BadRequest naming the field, a good section stored and described --------------
@dataclass(frozen=True)
class PolicyMesh:
    endpoint: str
    mesh: str


@pytest.fixture(scope="module")
def policy_mesh(stack: Stack) -> PolicyMesh:
    appmesh = stack.appmesh()
    mesh = f"p2-mesh-{uuid.uuid4().hex[:8]}"
    appmesh.create_mesh(meshName=mesh)
    for node in ("checkout", "cart"):
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=node, spec=node_spec(8080))
    appmesh.create_virtual_gateway(meshName=mesh, virtualGatewayName="edge", spec=gateway_spec())
    return PolicyMesh(stack.api_endpoint, mesh)


NODE = {"virtualNode": {"virtualNodeName": "checkout"}}
GATEWAY = {"virtualGateway": {"virtualGatewayName": "edge"}}


def _create(at: PolicyMesh, name: str, spec: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"policyName": name, "spec": spec}).encode()
    request = urllib.request.Request(f"{at.endpoint}/meshplane/v1/meshes/{at.mesh}/policies", data=body,
                                     method="PUT", headers={"content-type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {"type": error.headers.get("x-amzn-ErrorType", ""), **json.loads(error.read())}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"targets": [NODE], "zoneAware": {"minClusterSize": "2"}}, "spec.zoneAware.minClusterSize"),
        ({"targets": [NODE], "zoneAware": {"minClusterSize": 2, "zones": ["a"]}}, "spec.zoneAware.zones"),
        ({"targets": [GATEWAY], "zoneAware": {}}, "spec.zoneAware"),
        ({"targets": [NODE], "outlierDetection": {}}, "spec.outlierDetection"),
        ({"targets": [NODE], "outlierDetection": {"failurePercentage": {"threshold": 150}}},
         "spec.outlierDetection.failurePercentage.threshold"),
        ({"targets": [GATEWAY], "outlierDetection": {"successRate": {}}}, "spec.outlierDetection"),
        ({"targets": [NODE], "retryBudget": {"minRetryConcurrency": -1}}, "spec.retryBudget.minRetryConcurrency"),
        ({"targets": [NODE], "tracing": {"collector": {"hostname": "c.local", "port": 70000}}},
         "spec.tracing.collector.port"),
        ({"targets": [NODE], "tracing": {"collector": {"hostname": "c.local", "port": 4317}, "sampling": 5}},
         "spec.tracing.sampling"),
    ],
)  # fmt: skip
def test_api_refuses_bad_sections_naming_the_field(policy_mesh: PolicyMesh, spec: dict[str, Any], field: str) -> None:
    status, body = _create(policy_mesh, f"bad-{uuid.uuid4().hex[:6]}", spec)
    assert status == 400, body
    assert body["type"].startswith("BadRequestException"), body
    assert body["message"].startswith(f"{field}: "), body


def test_api_stores_good_sections_and_refuses_a_second_policy_for_the_same_section(policy_mesh: PolicyMesh) -> None:
    spec = {
        "targets": [{"virtualNode": {"virtualNodeName": "cart"}}],
        "zoneAware": {"minClusterSize": 3},
        "outlierDetection": {"successRate": {"stdevFactor": 1.9}},
        "retryBudget": {"budgetPercent": 20.0, "minRetryConcurrency": 3},
        "tracing": {"collector": COLLECTOR, "samplingPercent": 5.0},
    }
    status, body = _create(policy_mesh, "cart-resilience", spec)
    assert status == 200, body
    stored = body["policy"]["spec"]
    assert stored["zoneAware"] == {"minClusterSize": 3, "routingEnabledPercent": 100.0}
    assert stored["outlierDetection"] == {"successRate": {"stdevFactor": 1.9}}
    assert stored["retryBudget"] == {"budgetPercent": 20.0, "minRetryConcurrency": 3}
    assert stored["tracing"] == {"collector": COLLECTOR, "samplingPercent": 5.0}
    again = {"targets": [{"virtualNode": {"virtualNodeName": "cart"}}], "retryBudget": {"budgetPercent": 5.0}}
    status, body = _create(policy_mesh, "cart-budget", again)
    assert status == 409, body
    assert body["type"].startswith("ConflictException") and "cart-resilience" in body["message"], body


def test_api_refuses_a_target_that_does_not_exist(policy_mesh: PolicyMesh) -> None:
    spec = {"targets": [{"virtualNode": {"virtualNodeName": "ghost"}}], "zoneAware": {}}
    status, body = _create(policy_mesh, "ghost-zones", spec)
    assert status == 404, body
    assert body["type"].startswith("NotFoundException") and "ghost" in body["message"], body
