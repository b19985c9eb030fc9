"""Every variable of the App Mesh image's documented list works or is refused, never silently ignored.

A working variable changes the bootstrap `meshplane bootstrap` renders (against the same environment
without it), and every bootstrap so rendered passes `envoy --mode validate`; a refused one stops the
render with one line naming it. ENVOY_LOG_LEVEL and ENVOY_CONCURRENCY belong on Envoy's command line
(the sidecar entrypoint puts them there, tests/images checks it): the render only refuses bad values.
The list is read from ../shared/appmesh-envoy-image.md, and envoy_bootstrap/README.md must have a row for each.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions
from support import envoy_binary

from .test_bootstrap import MESHPLANE, NODE, REPO

FACT_SHEET = REPO.parent / "shared" / "appmesh-envoy-image.md"
README = REPO / "envoy_bootstrap" / "README.md"
XRAY = {"ENABLE_ENVOY_XRAY_TRACING": "1"}
DATADOG = {"ENABLE_ENVOY_DATADOG_TRACING": "1"}
JAEGER = {"ENABLE_ENVOY_JAEGER_TRACING": "1"}
DOGSTATSD = {"ENABLE_ENVOY_DOG_STATSD": "1"}


@dataclass(frozen=True)
class Works:
    """Setting `value` (beside `companions`) changes the rendered bootstrap."""

    value: str | Callable[[Path], str]
    companions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    """`value` is refused; `accepted`, what meshplane's Envoy does anyway, renders as if unset."""

    value: str
    accepted: str | None = None


@dataclass(frozen=True)
class CommandLine:
    """Passed to Envoy's command line by the entrypoint; the render checks it, refusing `bad`."""

    good: str
    bad: str


def _file(name: str, document: dict[str, Any]) -> Callable[[Path], str]:
    def write(directory: Path) -> str:
        path = directory / name
        path.write_text(json.dumps(document))
        return str(path)

    return write


ZIPKIN = {"name": "envoy.tracers.zipkin", "typed_config": {
    "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig", "collector_cluster": "zipkin",
    "collector_endpoint": "/api/v2/spans", "collector_endpoint_version": "HTTP_JSON"}}  # fmt: skip
ZIPKIN_CLUSTER = {"name": "zipkin", "type": "STRICT_DNS", "connect_timeout": "1s", "load_assignment": {
    "cluster_name": "zipkin", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
        "address": "zipkin.local", "port_value": 9411}}}}]}]}}  # fmt: skip
STATSD_SINK = {"name": "envoy.stat_sinks.statsd", "typed_config": {
    "@type": "type.googleapis.com/envoy.config.metrics.v3.StatsdSink",
    "address": {"socket_address": {"protocol": "UDP", "address": "127.0.0.1", "port_value": 8125}}}}  # fmt: skip
HEALTH_RULE = {"description": "health", "host": "*", "http_method": "GET", "url_path": "/ping", "fixed_target": 0,
               "rate": 0.0}  # fmt: skip
MANIFEST = {"version": 2, "default": {"fixed_target": 1, "rate": 0.1}, "rules": [HEALTH_RULE]}
TRACING_FILE = {"tracing": {"http": ZIPKIN}, "static_resources": {"clusters": [ZIPKIN_CLUSTER]}}

CASES: dict[str, Works | Refused | CommandLine] = {
    "APPMESH_RESOURCE_ARN": Works("arn:aws:appmesh:eu-west-1:111122223333:mesh/shop/virtualNode/other"),
    "APPMESH_RESOURCE_NAME": Works("mesh/shop/virtualGateway/edge"),
    "APPMESH_VIRTUAL_NODE_NAME": Works("mesh/shop/virtualNode/other"),
    "APPMESH_RESOURCE_CLUSTER": Works("web-cluster"),
    "APPMESH_VIRTUAL_NODE_CLUSTER": Works("web-cluster"),
    "APPMESH_XDS_ENDPOINT": Works("ads.example.internal:443"),
    "APPMESH_SDS_SOCKET_PATH": Works("/run/spire/sockets/agent.sock"),
    "ENVOY_INITIAL_FETCH_TIMEOUT": Works("5"),
    "ENVOY_ADMIN_ACCESS_ENABLE_IPV6": Works("true"),
    "ENVOY_ADMIN_ACCESS_LOG_FILE": Works(lambda d: str(d / "admin.log")),
    "ENVOY_OUTLIER_DETECTION_EVENT_LOG_PATH": Works(lambda d: str(d / "outlier.log")),
    "MAX_REQUESTS_PER_IO_CYCLE": Works("1"),
    "ENABLE_ENVOY_XRAY_TRACING": Works("1"),
    "AWS_XRAY_DAEMON_ADDRESS": Works("127.0.0.5:2001", XRAY),
    "XRAY_DAEMON_PORT": Works("2001", XRAY),
    "XRAY_SEGMENT_NAME": Works("shop-web", XRAY),
    "XRAY_SAMPLING_RATE": Works("0.5", XRAY),
    "XRAY_SAMPLING_RULE_MANIFEST": Works(_file("manifest.json", MANIFEST), XRAY),
    "ENABLE_ENVOY_DATADOG_TRACING": Works("1"),
    "DATADOG_TRACER_ADDRESS": Works("datadog-agent.local", DATADOG),
    "DATADOG_TRACER_PORT": Works("8127", DATADOG),
    "DD_SERVICE": Works("shop-web", DATADOG),
    "ENABLE_ENVOY_JAEGER_TRACING": Works("1"),
    "JAEGER_TRACER_ADDRESS": Works("jaeger.local", JAEGER),
    "JAEGER_TRACER_PORT": Works("9412", JAEGER),
    "JAEGER_TRACER_VERSION": Works("JSON", JAEGER),
    "ENVOY_TRACING_CFG_FILE": Works(_file("tracing.json", TRACING_FILE)),
    "ENABLE_ENVOY_STATS_TAGS": Works("1"),
    "ENVOY_STATS_FLUSH_INTERVAL": Works("1m30s"),
    "ENVOY_STATS_CONFIG_FILE": Works(_file("stats.json", {"stats_config": {"use_all_default_tags": False}})),
    "ENABLE_ENVOY_DOG_STATSD": Works("1"),
    "STATSD_ADDRESS": Works("10.0.0.5", DOGSTATSD),
    "STATSD_PORT": Works("8126", DOGSTATSD),
    "STATSD_SOCKET_PATH": Works("/var/run/datadog/dsd.socket", DOGSTATSD),
    "ENVOY_STATS_SINKS_CFG_FILE": Works(_file("sinks.json", {"stats_sinks": [STATSD_SINK]})),
    "APPMESH_PREVIEW": Refused("1", accepted="0"),
    "APPMESH_DUALSTACK_ENDPOINT": Refused("true", accepted="false"),
    "APPMESH_SIGNING_NAME": Refused("appmesh"),
    "APPNET_RELAY_LISTENER_UDS_PATH": Refused("/tmp/relay_xds.sock"),
    "APPMESH_SET_TRACING_DECISION": Refused("false", accepted="true"),
    "ENVOY_NO_EXTENSION_LOOKUP_BY_NAME": Refused("false", accepted="true"),
    "ENVOY_USE_HTTP_CLIENT_TO_FETCH_AWS_CREDENTIALS": Refused("true"),
    "APPNET_ENABLE_RELAY_MODE_FOR_XDS": Refused("true", accepted="false"),  # read by the image, not in the list
    "APPMESH_METRIC_EXTENSION_VERSION": Refused("1", accepted="0"),
    "ENVOY_ADMIN_MODE": Refused("uds", accepted="tcp"),
    "ENVOY_LOG_LEVEL": CommandLine("debug", "loud"),
    "ENVOY_CONCURRENCY": CommandLine("2", "0"),
}


def documented_variables() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]{3,})`", FACT_SHEET.read_text()))


def render(env: dict[str, str]) -> dict[str, Any]:
    return json_format.MessageToDict(build(BootstrapOptions.from_env(env)), preserving_proto_field_name=True)


def environments(name: str, case: Works, directory: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(without the variable, with it): the same base and companions either way."""
    base = {
        "APPMESH_VIRTUAL_NODE_NAME": NODE,
        "ENVOY_ADMIN_ACCESS_LOG_FILE": str(directory / "default-admin.log"),
        "ENVOY_OUTLIER_DETECTION_EVENT_LOG_PATH": str(directory / "default-outlier.log"),
        **case.companions,
    }
    value = case.value(directory) if callable(case.value) else case.value
    return base, {**base, name: value}


def test_every_documented_variable_has_a_case_and_a_readme_row() -> None:
    documented = documented_variables()
    assert len(documented) >= 40, "the fact sheet's variable list was not found"
    assert documented <= set(CASES), f"no case for {sorted(documented - set(CASES))}"
    table = README.read_text().split("## App Mesh image variables", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", table, re.MULTILINE))
    assert documented <= rows, f"no README row for {sorted(documented - rows)}"


WORKS = sorted(n for n, c in CASES.items() if isinstance(c, Works))


@pytest.mark.parametrize("name", WORKS)
def test_a_working_variable_changes_the_bootstrap(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    assert isinstance(case, Works)
    without, with_it = environments(name, case, tmp_path)
    assert render(with_it) != render(without)


@pytest.mark.envoy
def test_every_bootstrap_a_variable_produces_passes_envoy_validate(tmp_path: Path) -> None:
    documents = {}
    for name in WORKS:
        case = CASES[name]
        assert isinstance(case, Works)
        directory = tmp_path / name
        directory.mkdir()
        documents[name] = render(environments(name, case, directory)[1])

    baseline = render({"APPMESH_VIRTUAL_NODE_NAME": NODE})
    assert all(document != baseline for document in documents.values())

    def validate(item: tuple[str, dict[str, Any]]) -> str | None:
        name, document = item
        path = tmp_path / name / "bootstrap.json"
        path.write_text(json.dumps(document))
        command = [envoy_binary(), "--mode", "validate", "-c", str(path), "-l", "error", "--use-dynamic-base-id"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        return None if result.returncode == 0 else f"{name}: {(result.stderr or result.stdout)[-600:]}"

    with ThreadPoolExecutor(max_workers=2) as pool:
        refusals = [r for r in pool.map(validate, documents.items()) if r]
    assert refusals == []


def _one_line_refusal(env: dict[str, str], name: str) -> str:
    """The CLI's answer: exit 2 and a single stderr line naming `name`, no traceback."""
    result = subprocess.run([MESHPLANE, "bootstrap"], capture_output=True, text=True, timeout=60, check=False,
                            env={"APPMESH_VIRTUAL_NODE_NAME": NODE, **env})  # fmt: skip
    assert result.returncode == 2, result.stdout[:300]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("meshplane bootstrap: ") and name in lines[0], result.stderr
    return lines[0]


REFUSED = sorted(n for n, c in CASES.items() if isinstance(c, Refused))


def test_refused_variables_stop_the_cli_with_one_line_naming_them() -> None:
    for name in REFUSED:
        case = CASES[name]
        assert isinstance(case, Refused)
        _one_line_refusal({name: case.value}, name)


@pytest.mark.parametrize("name", REFUSED)
def test_a_refused_variable_says_why_and_its_harmless_value_is_accepted(name: str) -> None:
    case = CASES[name]
    assert isinstance(case, Refused)
    with pytest.raises(ValueError, match=rf"^{name}='{re.escape(case.value)}': \S.{{20,}}"):
        render({"APPMESH_VIRTUAL_NODE_NAME": NODE, name: case.value})
    if case.accepted is not None:
        assert render({"APPMESH_VIRTUAL_NODE_NAME": NODE, name: case.accepted}) == render(
            {"APPMESH_VIRTUAL_NODE_NAME": NODE}
        )


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if isinstance(c, CommandLine)))
def test_command_line_variables_are_checked_at_render(name: str) -> None:
    case = CASES[name]
    assert isinstance(case, CommandLine)
    render({"APPMESH_VIRTUAL_NODE_NAME": NODE, name: case.good})
    with pytest.raises(ValueError, match=rf"^{name}='{case.bad}': "):
        render({"APPMESH_VIRTUAL_NODE_NAME": NODE, name: case.bad})


MALFORMED = [
    ("ENABLE_ENVOY_XRAY_TRACING", "maybe", "must be a boolean", {}),
    ("ENVOY_STATS_FLUSH_INTERVAL", "10", "Go duration", {}),
    ("ENVOY_STATS_FLUSH_INTERVAL", "10m", "to 300s", {}),
    ("ENVOY_ADMIN_ACCESS_PORT", "admin", "integer", {}),
    ("ENVOY_INITIAL_FETCH_TIMEOUT", "-1", "0 or more", {}),
    ("MAX_REQUESTS_PER_IO_CYCLE", "many", "integer", {}),
    ("ENVOY_ADMIN_ACCESS_BIND", "localhost", "IP address", {}),
    ("APPMESH_XDS_ENDPOINT", "ads.example.internal", "host:port", {}),
    ("APPMESH_METRIC_EXTENSION_VERSION", "2", "one of 0, 1", {}),
    ("XRAY_SAMPLING_RATE", "1.5", "between 0 and 1", XRAY),
    ("XRAY_DAEMON_PORT", "70000", "from 1 to 65535", XRAY),
    ("AWS_XRAY_DAEMON_ADDRESS", "xray.local:2000", "IP address", XRAY),
    ("DATADOG_TRACER_PORT", "dd", "integer", DATADOG),
    ("JAEGER_TRACER_PORT", "0", "from 1 to 65535", JAEGER),
    ("STATSD_ADDRESS", "statsd.local", "IP address", DOGSTATSD),
    ("STATSD_PORT", "udp", "integer", DOGSTATSD),
]


@pytest.mark.parametrize(("name", "value", "why", "feature"), MALFORMED, ids=[f"{n}={v}" for n, v, *_ in MALFORMED])
def test_a_malformed_value_is_refused_naming_the_variable(
    name: str, value: str, why: str, feature: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match=rf"^{name}='{re.escape(value)}': .*{re.escape(why)}"):
        render({"APPMESH_VIRTUAL_NODE_NAME": NODE, **feature, name: value})
    if feature:  # the feature's own variable cannot matter while the feature is off, as in the App Mesh image
        assert render({"APPMESH_VIRTUAL_NODE_NAME": NODE, name: value}) == render({"APPMESH_VIRTUAL_NODE_NAME": NODE})


CONFLICTS = [
    ({**XRAY, **JAEGER}, "only one tracer"),
    ({**DATADOG, "ENVOY_TRACING_CFG_FILE": "/etc/tracing.yaml"}, "ENVOY_TRACING_CFG_FILE replaces"),
    ({"ENABLE_ENVOY_STATS_TAGS": "1", "ENVOY_STATS_CONFIG_FILE": "/etc/stats.yaml"}, "ENVOY_STATS_CONFIG_FILE"),
    ({**DOGSTATSD, "ENVOY_STATS_SINKS_CFG_FILE": "/etc/sinks.yaml"}, "ENVOY_STATS_SINKS_CFG_FILE"),
    ({**XRAY, "XRAY_SAMPLING_RULE_MANIFEST": "/etc/rules.json", "XRAY_SAMPLING_RATE": "0.1"}, "XRAY_SAMPLING_RATE"),
    ({"MESHPLANE_ADS_ADDRESS": "ads-a:18000", "APPMESH_XDS_ENDPOINT": "ads-b:18000"}, "APPMESH_XDS_ENDPOINT"),
]


@pytest.mark.parametrize(("env", "named"), CONFLICTS, ids=[n for _, n in CONFLICTS])
def test_settings_that_would_silently_override_each_other_are_refused(env: dict[str, str], named: str) -> None:
    _one_line_refusal(env, named)


def test_the_admin_address_is_loopback_unless_a_bind_address_is_asked_for() -> None:
    def admin(**env: str) -> dict[str, Any]:
        return render({"APPMESH_VIRTUAL_NODE_NAME": NODE, **env})["admin"]["address"]["socket_address"]

    assert admin() == {"address": "127.0.0.1", "port_value": 9901}
    assert admin(ENVOY_ADMIN_ACCESS_BIND="0.0.0.0", ENVOY_ADMIN_ACCESS_PORT="9902") == {
        "address": "0.0.0.0", "port_value": 9902}  # fmt: skip
    assert admin(ENVOY_ADMIN_ACCESS_ENABLE_IPV6="1") == {"address": "::1", "port_value": 9901}
    assert admin(ENVOY_ADMIN_ACCESS_ENABLE_IPV6="1", ENVOY_ADMIN_ACCESS_BIND="0.0.0.0") == {
        "address": "::", "port_value": 9901, "ipv4_compat": True}  # fmt: skip
    with pytest.raises(ValueError, match="IPv4"):
        admin(ENVOY_ADMIN_ACCESS_ENABLE_IPV6="1", ENVOY_ADMIN_ACCESS_BIND="10.0.0.7")
