"""The custom config files (ENVOY_TRACING_CFG_FILE, ENVOY_STATS_CONFIG_FILE, ENVOY_STATS_SINKS_CFG_FILE) and
the X-Ray sampling rule manifest: what they may hold, and the one-line refusals for what they may not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions

from .test_bootstrap import NODE

STATS_YAML = """\
statsConfig:
  statsTags:
  - tagName: team
    fixedValue: payments
staticResources:
  clusters:
  - name: metrics_service
    type: STRICT_DNS
    connectTimeout: 1s
    loadAssignment:
      clusterName: metrics_service
      endpoints: [{lbEndpoints: [{endpoint: {address: {socketAddress: {address: metrics.local, portValue: 9000}}}}]}]
"""


def render(tmp_path: Path, variable: str, content: str, **env: str) -> dict[str, Any]:
    path = tmp_path / "custom.yaml"
    path.write_text(content)
    options = BootstrapOptions.from_env({"APPMESH_VIRTUAL_NODE_NAME": NODE, variable: str(path), **env})
    return json_format.MessageToDict(build(options), preserving_proto_field_name=True)


def test_a_yaml_stats_config_file_replaces_the_tags_and_brings_its_cluster(tmp_path: Path) -> None:
    document = render(tmp_path, "ENVOY_STATS_CONFIG_FILE", STATS_YAML)
    assert document["stats_config"] == {"stats_tags": [{"tag_name": "team", "fixed_value": "payments"}]}
    assert [c["name"] for c in document["static_resources"]["clusters"]] == ["meshplane_ads", "metrics_service"]


def test_a_sinks_file_adds_its_sinks(tmp_path: Path) -> None:
    sink = {"name": "envoy.stat_sinks.statsd", "typedConfig": {
        "@type": "type.googleapis.com/envoy.config.metrics.v3.StatsdSink", "tcpClusterName": "statsd"}}  # fmt: skip
    document = render(tmp_path, "ENVOY_STATS_SINKS_CFG_FILE", json.dumps({"statsSinks": [sink]}))
    assert document["stats_sinks"][0]["typed_config"]["tcp_cluster_name"] == "statsd"


REFUSED = [
    ("ENVOY_TRACING_CFG_FILE", "tracing: {http: {name: x}}\nadmin: {}\n", "holds admin; it may hold only tracing"),
    ("ENVOY_TRACING_CFG_FILE", "static_resources: {}\n", "holds no tracing"),
    ("ENVOY_STATS_CONFIG_FILE", "stats_config: {stats_tagz: []}\n", "stats_tagz"),
    ("ENVOY_STATS_SINKS_CFG_FILE", "stats_sinks: [{name: s, typed_config: {'@type': type.googleapis.com/no.Such}}]\n",
     "no.Such"),
    ("ENVOY_STATS_SINKS_CFG_FILE", "- not a mapping\n", "must be a mapping holding stats_sinks"),
    ("ENVOY_TRACING_CFG_FILE", "tracing: [unclosed\n", "neither YAML nor JSON"),
    ("ENVOY_STATS_CONFIG_FILE", "stats_config: {}\nstatic_resources: {clusters: [{name: meshplane_ads}]}\n",
     "defines meshplane_ads, a name the bootstrap already uses"),
]  # fmt: skip


@pytest.mark.parametrize(("variable", "content", "why"), REFUSED, ids=[w.split(";")[0] for *_, w in REFUSED])
def test_an_unusable_file_is_refused_naming_the_variable_and_the_problem(
    tmp_path: Path, variable: str, content: str, why: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{variable}='[^']+': ") as raised:
        render(tmp_path, variable, content)
    assert why in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("manifest", "why"),
    [
        ({"version": 1, "default": {"fixed_target": 1, "rate": 0.1}}, "version 2"),
        ({"version": 2, "rules": []}, "default rule whose rate"),
        ({"version": 2, "default": {"fixed_target": 1, "rate": 3}}, "default rule whose rate"),
    ],
)
def test_a_sampling_manifest_envoy_would_ignore_is_refused(tmp_path: Path, manifest: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=rf"^XRAY_SAMPLING_RULE_MANIFEST='[^']+': .*{why}"):
        render(tmp_path, "XRAY_SAMPLING_RULE_MANIFEST", json.dumps(manifest), ENABLE_ENVOY_XRAY_TRACING="1")


def test_a_valid_manifest_is_handed_to_envoy_as_its_file(tmp_path: Path) -> None:
    manifest = json.dumps({"version": 2, "rules": [], "default": {"fixed_target": 2, "rate": 0.25}})
    document = render(tmp_path, "XRAY_SAMPLING_RULE_MANIFEST", manifest, ENABLE_ENVOY_XRAY_TRACING="1")
    assert document["tracing"]["http"]["typed_config"]["sampling_rule_manifest"] == {
        "filename": str(tmp_path / "custom.yaml")}  # fmt: skip
