"""The headers, mirror and rateLimit policy sections refuse bad input with the field named.

Model level: wrong types, unknown fields, out-of-range values and conflicting rules
each fail validation at the location a BadRequest message names.  API level: the same
mistakes sent to the Policy API come back as BadRequestException naming the field (before
any read or write: the API here has a store it cannot reach), a section on a target kind it
does not take is refused, and good sections are stored in the form they were sent.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from meshplane.api import policy_api
from meshplane.api.app import Api
from meshplane.model.policy import headers, mirror, rate_limit
from meshplane.model.policy.headers import HeaderRules
from meshplane.model.policy.mirror import Mirror
from meshplane.model.policy.rate_limit import RateLimit
from meshplane.model.policy.spec import PolicySpec
from meshplane.store import ResourceStore
from meshplane.store.schema import spec_json
from pydantic import BaseModel, ValidationError


def _refused(model: type[BaseModel], body: dict[str, Any]) -> tuple[str, str]:
    """(dotted location, message) of the single error `body` raises."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return ".".join(str(part) for part in errors[0]["loc"]), errors[0]["msg"]


def test_target_kinds_each_section_supports() -> None:
    assert {"route", "gatewayRoute", "virtualNode"} == headers.TARGETS
    assert {"route"} == mirror.TARGETS
    assert {"virtualNode", "virtualGateway"} == rate_limit.TARGETS


# -- headers ----------------------------------------------------------------------------------------
def test_header_rules_round_trip_in_camel_case() -> None:
    body = {
        "request": {"add": [{"name": "x-a", "value": "1"}], "set": [{"name": "x-b", "value": "2"}], "remove": ["x-c"]},
        "response": {"remove": ["server"]},
    }
    rules = HeaderRules.model_validate(body)
    assert rules.wire() == body
    assert rules.request is not None
    assert [h.name for h in rules.request.overwritten] == ["x-b"]


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        ({"request": {"set": [{"name": "x-a", "value": 1}]}}, "request.set.0.value", "valid string"),
        ({"request": {"remove": "x-a"}}, "request.remove", "valid list"),
        ({"request": {"add": [{"name": "x-a", "value": "1", "append": True}]}}, "request.add.0.append", "Extra"),
        ({"requests": {"remove": ["x-a"]}}, "requests", "Extra"),
        ({"request": {"add": [{"name": "x a", "value": "1"}]}}, "request.add.0.name", "not a valid HTTP header"),
        ({"request": {"set": [{"name": "x-a", "value": "a\r\nb"}]}}, "request.set.0.value", "CR, LF or NUL"),
        ({"request": {"remove": [":path"]}}, "request.remove", "pseudo-header"),
        ({"response": {"set": [{"name": ":status", "value": "200"}]}}, "response.set.0.name", "pseudo-header"),
        ({"request": {"set": [{"name": "Host", "value": "evil"}]}}, "request.set.0.name", "cannot be changed"),
        ({"response": {"remove": ["host"]}}, "response.remove", "cannot be changed"),
        ({"request": {"remove": ["x-meshplane-gateway-target"]}}, "request.remove", "reserved"),
        ({"request": {"remove": [""]}}, "request.remove.0", "at least 1 character"),
        ({"request": {"remove": [f"x-{i}" for i in range(51)]}}, "request.remove", "at most 50"),
    ],
)
def test_header_rules_refuse_bad_values(body: dict[str, Any], where: str, says: str) -> None:
    location, message = _refused(HeaderRules, body)
    assert location == where
    assert says in message


@pytest.mark.parametrize(
    ("ops", "says"),
    [
        ({"set": [{"name": "x-a", "value": "1"}], "remove": ["X-A"]}, "'x-a' is in both set and remove"),
        ({"add": [{"name": "x-a", "value": "1"}], "remove": ["x-a"]}, "'x-a' is in both add and remove"),
        ({"add": [{"name": "x-a", "value": "1"}], "set": [{"name": "x-a", "value": "2"}]}, "in both add and set"),
        ({"set": [{"name": "x-a", "value": "1"}, {"name": "X-a", "value": "2"}]}, "set names header"),
        ({"remove": ["x-a", "x-a"]}, "remove names header 'x-a' more than once"),
        ({}, "at least one of add, set or remove"),
    ],
)
def test_header_rules_refuse_conflicting_rules(ops: dict[str, Any], says: str) -> None:
    location, message = _refused(HeaderRules, {"response": ops})
    assert location == "response"
    assert says in message


def test_header_add_may_repeat_a_name_to_append_several_values() -> None:
    twice = [{"name": "x-a", "value": "1"}, {"name": "x-a", "value": "2"}]
    rules = HeaderRules.model_validate({"request": {"add": twice}})
    assert rules.request is not None and len(rules.request.added) == 2


def test_header_rules_need_a_direction() -> None:
    assert "at least one of request or response" in _refused(HeaderRules, {})[1]


# -- mirror -----------------------------------------------------------------------------------------
def test_mirror_defaults_to_every_request_and_counts_per_million() -> None:
    assert Mirror.model_validate({"virtualNodeName": "shadow"}).per_million == 1_000_000
    assert Mirror.model_validate({"virtualNodeName": "shadow", "percent": 0.0125}).per_million == 125


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        ({"virtualNodeName": "s", "percent": 0}, "percent", "greater than 0"),
        ({"virtualNodeName": "s", "percent": -5}, "percent", "greater than 0"),
        ({"virtualNodeName": "s", "percent": 100.5}, "percent", "less than or equal to 100"),
        ({"virtualNodeName": "s", "percent": "50"}, "percent", "valid number"),
        ({"virtualNodeName": "s", "percent": 1.00001}, "percent", "at most 4 decimals"),
        ({"virtualNodeName": ""}, "virtualNodeName", "at least 1 character"),
        ({"percent": 10}, "virtualNodeName", "Field required"),
        ({"virtualNodeName": "s", "cluster": "c"}, "cluster", "Extra"),
    ],
)
def test_mirror_refuses_bad_values(body: dict[str, Any], where: str, says: str) -> None:
    location, message = _refused(Mirror, body)
    assert location == where
    assert says in message


# -- rateLimit --------------------------------------------------------------------------------------
def test_rate_limit_bucket_holds_a_unit_of_budget_plus_the_burst() -> None:
    limit = RateLimit.model_validate({"requestsPerUnit": 600, "unit": "MINUTE", "burst": 100})
    assert (limit.bucket_size, limit.fill_seconds) == (700, 60)
    assert RateLimit.model_validate({"requestsPerUnit": 5, "unit": "SECOND"}).bucket_size == 5


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        ({"requestsPerUnit": 0, "unit": "SECOND"}, "requestsPerUnit", "greater than or equal to 1"),
        ({"requestsPerUnit": "10", "unit": "SECOND"}, "requestsPerUnit", "valid integer"),
        ({"requestsPerUnit": 1.5, "unit": "SECOND"}, "requestsPerUnit", "valid integer"),
        ({"requestsPerUnit": 10, "unit": "HOUR"}, "unit", "'SECOND' or 'MINUTE'"),
        ({"requestsPerUnit": 10}, "unit", "Field required"),
        ({"requestsPerUnit": 10, "unit": "SECOND", "burst": -1}, "burst", "greater than or equal to 0"),
        ({"requestsPerUnit": 2**32 - 1, "unit": "SECOND", "burst": 1}, "burst", "requestsPerUnit + burst"),
        ({"requestsPerUnit": 10, "unit": "SECOND", "perConnection": True}, "perConnection", "Extra"),
    ],
)
def test_rate_limit_refuses_bad_values(body: dict[str, Any], where: str, says: str) -> None:
    location, message = _refused(RateLimit, body)
    assert location == where
    assert says in message


def test_sections_are_frozen_so_resolved_views_can_share_them() -> None:
    limit = RateLimit.model_validate({"requestsPerUnit": 5, "unit": "SECOND"})
    with pytest.raises(ValidationError, match="frozen"):
        limit.burst = 10


# -- through the API: a BadRequest naming the field, a good section read as it is stored -------------
MESH = "p1-mesh"
ROUTE_TARGET = {"route": {"virtualRouterName": "shop-router", "routeName": "all"}}
NODE_TARGET = {"virtualNode": {"virtualNodeName": "shop"}}
GATEWAY_TARGET = {"virtualGateway": {"virtualGatewayName": "edge"}}


@pytest.fixture(scope="module")
def api() -> Api:
    """The API over a store it can never reach: input is refused before any read or write."""
    unreachable = boto3.client(
        "dynamodb", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    return Api(ResourceStore("unreachable", unreachable, region="us-east-1", account="123456789012"))


def _create_event(spec: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"policyName": "p", "spec": spec})
    return {"httpMethod": "PUT", "path": f"/meshplane/v1/meshes/{MESH}/policies", "body": body, "headers": {}}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"targets": [NODE_TARGET], "rateLimit": {"requestsPerUnit": 0, "unit": "SECOND"}},
         "spec.rateLimit.requestsPerUnit"),
        ({"targets": [NODE_TARGET], "rateLimit": {"requestsPerUnit": "5", "unit": "SECOND"}},
         "spec.rateLimit.requestsPerUnit"),
        ({"targets": [GATEWAY_TARGET], "rateLimit": {"requestsPerUnit": 5, "unit": "HOUR"}}, "spec.rateLimit.unit"),
        ({"targets": [NODE_TARGET], "rateLimit": {"requestsPerUnit": 5, "unit": "SECOND", "perIp": True}},
         "spec.rateLimit.perIp"),
        ({"targets": [ROUTE_TARGET], "mirror": {"virtualNodeName": "shadow", "percent": 101}}, "spec.mirror.percent"),
        ({"targets": [ROUTE_TARGET], "mirror": {"percent": 10}}, "spec.mirror.virtualNodeName"),
        ({"targets": [NODE_TARGET], "headers": {"request": {"remove": [":authority"]}}}, "spec.headers.request.remove"),
        ({"targets": [NODE_TARGET], "headers": {"request": {"set": [{"name": "x", "value": "1"}], "remove": ["x"]}}},
         "spec.headers.request"),
        ({"targets": [NODE_TARGET], "mirror": {"virtualNodeName": "shadow"}}, "spec.mirror"),
        ({"targets": [GATEWAY_TARGET], "headers": {"response": {"remove": ["server"]}}}, "spec.headers"),
        ({"targets": [ROUTE_TARGET], "rateLimit": {"requestsPerUnit": 5, "unit": "SECOND"}}, "spec.rateLimit"),
    ],
)
def test_api_refuses_bad_sections_naming_the_field(api: Api, spec: dict[str, Any], field: str) -> None:
    response = api.serve(_create_event(spec)).response
    assert response["statusCode"] == 400, response
    assert response["headers"]["x-amzn-ErrorType"] == "BadRequestException"
    assert json.loads(response["body"])["message"].startswith(f"{field}: "), response


def test_api_takes_good_sections_and_stores_them_in_their_wire_form() -> None:
    spec = {
        "targets": [ROUTE_TARGET],
        "mirror": {"virtualNodeName": "shadow", "percent": 12.5},
        "headers": {"request": {"set": [{"name": "x-tenant", "value": "blue"}], "remove": ["x-debug"]}},
    }
    route, labels = policy_api.match("PUT", f"/meshplane/v1/meshes/{MESH}/policies")
    bound = policy_api.bind(route, labels, {}, json.dumps({"policyName": "p", "spec": spec}).encode())
    stored = json.loads(spec_json(bound.spec))
    assert stored == spec
    assert PolicySpec.model_validate(stored) == bound.spec  # what describe reads back is what was written
    limit = {"targets": [GATEWAY_TARGET], "rateLimit": {"requestsPerUnit": 100, "unit": "MINUTE", "burst": 20}}
    bound = policy_api.bind(route, labels, {}, json.dumps({"policyName": "q", "spec": limit}).encode())
    assert json.loads(spec_json(bound.spec)) == limit
