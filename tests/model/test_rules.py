"""App Mesh rules beyond the generated shapes: each violation names the field."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
from meshplane.model import rules, shapes


def _route(route: dict[str, Any]) -> shapes.RouteSpec:
    return shapes.RouteSpec.model_validate(route)


TARGET = {"weightedTargets": [{"virtualNode": "n", "weight": 1}]}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (shapes.RouteSpec(), "spec: exactly one of"),
        (_route({"httpRoute": {"match": {"prefix": "/aws-app-mesh/x"}, "action": TARGET}}), "match.prefix"),
        (_route({"httpRoute": {"match": {"prefix": "x"}, "action": TARGET}}), "spec.httpRoute.match.prefix"),
        (_route({"httpRoute": {"match": {}, "action": TARGET}}), "one of prefix or path"),
        (_route({"httpRoute": {"match": {"prefix": "/", "scheme": "https"}, "action": TARGET}}), "match.scheme"),
        (_route({"grpcRoute": {"match": {"methodName": "M"}, "action": TARGET}}), "grpcRoute.match.methodName"),
        (_route({"http2Route": {"match": {"prefix": "/"}, "action": TARGET,
                                "retryPolicy": {"maxRetries": 1, "perRetryTimeout": {"unit": "s", "value": 1}}}}),
         "http2Route.retryPolicy"),
        (_route({"httpRoute": {"match": {"prefix": "/", "headers": [
            {"name": "x", "match": {"range": {"start": 5, "end": 5}}}]}, "action": TARGET}}),
         "headers[0].match.range"),
    ],
)
def test_route_rules_name_the_field(spec: Any, field: str) -> None:
    with pytest.raises(rules.RuleViolation, match=re.escape(field)):
        rules.check_spec(spec)


def test_scheme_is_allowed_on_http2_routes() -> None:
    rules.check_spec(_route({"http2Route": {"match": {"prefix": "/", "scheme": "https"}, "action": TARGET}}))


def test_listener_settings_must_match_the_protocol() -> None:
    spec = shapes.VirtualNodeSpec.model_validate({"listeners": [
        {"portMapping": {"port": 80, "protocol": "grpc"}, "timeout": {"http": {}}},
    ]})
    with pytest.raises(rules.RuleViolation, match=r"spec.listeners\[0\].timeout"):
        rules.check_spec(spec)
    health = shapes.VirtualNodeSpec.model_validate({"listeners": [{
        "portMapping": {"port": 80, "protocol": "http"},
        "healthCheck": {"protocol": "http", "healthyThreshold": 2, "unhealthyThreshold": 2,
                        "intervalMillis": 5000, "timeoutMillis": 2000},
    }]})
    with pytest.raises(rules.RuleViolation, match=r"healthCheck\.path"):
        rules.check_spec(health)


def test_two_listeners_on_one_port_are_refused() -> None:
    listener = {"portMapping": {"port": 80, "protocol": "http"}}
    with pytest.raises(rules.RuleViolation, match="same port"):
        rules.check_spec(shapes.VirtualRouterSpec.model_validate({"listeners": [listener, listener]}))


@pytest.mark.parametrize(
    ("match", "rewrite", "field"),
    [
        ({"hostname": {"exact": "*.example.com"}}, None, "hostname.exact"),
        ({"prefix": "/a/"}, {"prefix": {"value": "b"}}, "rewrite.prefix.value"),
        ({"prefix": "/a/"}, {"prefix": {"defaultPrefix": "ENABLED", "value": "/b/"}}, "rewrite.prefix"),
        ({"path": {"exact": "/a"}}, {"prefix": {"defaultPrefix": "DISABLED"}}, "rewrite.prefix"),
        ({"headers": [{"name": "x"}]}, None, "one of prefix, path or hostname"),
    ],
)
def test_gateway_route_rules_name_the_field(match: dict, rewrite: dict | None, field: str) -> None:
    action: dict[str, Any] = {"target": {"virtualService": {"virtualServiceName": "s"}}}
    if rewrite:
        action["rewrite"] = rewrite
    spec = shapes.GatewayRouteSpec.model_validate({"httpRoute": {"match": match, "action": action}})
    with pytest.raises(rules.RuleViolation, match=field):
        rules.check_spec(spec)


def test_a_valid_gateway_route_passes() -> None:
    spec = shapes.GatewayRouteSpec.model_validate({"httpRoute": {
        "match": {"prefix": "/a/", "hostname": {"suffix": ".example.com"}},
        "action": {"target": {"virtualService": {"virtualServiceName": "s"}},
                   "rewrite": {"prefix": {"value": "/b/"}, "hostname": {"defaultTargetHostname": "DISABLED"}}},
    }})
    rules.check_spec(spec)


@pytest.mark.parametrize("name", ["a/b", "a#b", "a*", "a?", "a\x00", "a\u202e", ".."])
def test_names_with_key_separators_wildcards_or_control_characters_are_refused(name: str) -> None:
    with pytest.raises(rules.RuleViolation, match="virtualNodeName"):
        rules.check_name("virtualNodeName", name)


def _node_with_idle(value: int, unit: str) -> shapes.VirtualNodeSpec:
    return shapes.VirtualNodeSpec.model_validate({"listeners": [{
        "portMapping": {"port": 80, "protocol": "http"},
        "timeout": {"http": {"idle": {"unit": unit, "value": value}}},
    }]})


@pytest.mark.parametrize(("value", "unit"), [(rules.DURATION_MAX_SECONDS + 1, "s"), (2**63 - 1, "s"),
                                             ((rules.DURATION_MAX_SECONDS + 1) * 1000, "ms")])
def test_durations_beyond_envoys_range_are_refused_naming_the_field(value: int, unit: str) -> None:
    with pytest.raises(rules.RuleViolation, match=re.escape("spec.listeners[0].timeout.http.idle.value")):
        rules.check_spec(_node_with_idle(value, unit))


def test_the_longest_duration_envoy_holds_passes() -> None:
    rules.check_spec(_node_with_idle(rules.DURATION_MAX_SECONDS, "s"))
    rules.check_spec(_node_with_idle(rules.DURATION_MAX_SECONDS * 1000 + 999, "ms"))


@pytest.mark.parametrize(("retries", "ok"), [(rules.UINT32_MAX, True), (rules.UINT32_MAX + 1, False)])
def test_retries_must_fit_envoys_uint32(retries: int, ok: bool) -> None:
    spec = _route({"httpRoute": {"match": {"prefix": "/"}, "action": TARGET, "retryPolicy": {
        "maxRetries": retries, "perRetryTimeout": {"unit": "s", "value": 1}, "httpRetryEvents": ["server-error"]}}})
    if ok:
        rules.check_spec(spec)
    else:
        with pytest.raises(rules.RuleViolation, match=re.escape("spec.httpRoute.retryPolicy.maxRetries")):
            rules.check_spec(spec)


def test_outlier_detection_server_errors_must_fit_envoys_uint32() -> None:
    spec = shapes.VirtualNodeSpec.model_validate({"listeners": [{
        "portMapping": {"port": 80, "protocol": "http"},
        "outlierDetection": {"maxServerErrors": 2**32, "maxEjectionPercent": 50,
                             "interval": {"unit": "s", "value": 1}, "baseEjectionDuration": {"unit": "s", "value": 1}},
    }]})
    with pytest.raises(rules.RuleViolation, match=re.escape("spec.listeners[0].outlierDetection.maxServerErrors")):
        rules.check_spec(spec)


def test_a_gateway_spec_meets_the_gateway_rules() -> None:
    with pytest.raises(rules.RuleViolation, match="a virtual gateway needs at least one listener"):
        rules.check_spec(shapes.VirtualGatewaySpec.model_validate({"listeners": []}))


def test_importing_the_rules_loads_no_shape_module() -> None:
    """The rules are looked up by the spec's class name, so a write of one kind creates only that kind's classes."""
    code = (
        "import sys, meshplane.model.rules\n"
        "print([m for m in sys.modules if m.startswith('meshplane.model.shapes.')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

