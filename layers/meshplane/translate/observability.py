"""The stat names the translator emits, the App Mesh tags that parse them, and HCM tracing.

Ingress stat prefixes are `ingress.<protocol>.<port>`, as App Mesh's control plane named them,
so the App Mesh image's regex tags (kept here beside the prefix they parse) turn
`http.ingress.http.8080.downstream_rq_2xx` into `http.downstream_rq_2xx` tagged
`envoy.http_conn_manager_prefix=ingress`, `appmesh.listener_protocol=http` and
`appmesh.listener_port=8080`, and dashboards built on App Mesh keep working.

Tracing, most specific first: a `tracing` policy section (the proxy's node or gateway's, else
the mesh's) names the OpenTelemetry provider on every HCM (`translate.policy.tracing`); without
one, HCMs only turn tracing on, naming no provider, so Envoy uses the bootstrap's `tracing.http`
provider (X-Ray, Datadog, Jaeger or none, from the sidecar's environment), and with none
configured creates no spans.
"""

from __future__ import annotations

from envoy.config.metrics.v3 import stats_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm

from meshplane.graph.view import ProxyView
from meshplane.model.ids import ProxyId
from meshplane.translate.policy import tracing as policy_tracing

INGRESS_STAT_PREFIX = "ingress"

# The App Mesh image's regexes, verbatim: the first capture group is removed from the stat name,
# the second is the tag's value.
LISTENER_PROTOCOL_REGEX = r".*?\.ingress\.((\w+?)\.)[0-9]+?\.(.+?)$"
LISTENER_PORT_REGEX = r".*?\.ingress\.\w+?\.(([0-9]+?)\.)(.+?)$"
RDS_ROUTE_CONFIG_REGEX = r".*?\.ingress\.\w+?\.[0-9]+?\.rds\.((.*?)\.)(.+?)$"


def ingress_stat_prefix(protocol: str, port: int) -> str:
    """The stat prefix of a listener's ingress HTTP connection manager or TCP proxy."""
    return f"{INGRESS_STAT_PREFIX}.{protocol}.{port}"


def hcm_tracing(view: ProxyView) -> hcm.HttpConnectionManager.Tracing:
    """The proxy's OpenTelemetry section if it has one, else tracing on with provider and sampling
    left to the bootstrap's tracer (X-Ray samples by its own rules)."""
    section = view.policies.tracing
    if section is not None:
        return policy_tracing.hcm_tracing(section, view.proxy)
    return hcm.HttpConnectionManager.Tracing()


def stats_tags(proxy: ProxyId) -> list[stats_pb2.TagSpecifier]:
    """`appmesh.mesh` plus `appmesh.virtual_node` or `appmesh.virtual_gateway`, as fixed tags."""
    kind = "appmesh.virtual_gateway" if proxy.is_gateway else "appmesh.virtual_node"
    return [
        stats_pb2.TagSpecifier(tag_name="appmesh.mesh", fixed_value=proxy.mesh),
        stats_pb2.TagSpecifier(tag_name=kind, fixed_value=proxy.name),
    ]


def listener_tags() -> list[stats_pb2.TagSpecifier]:
    """The tags App Mesh always added: listener protocol and port, and the ingress route configuration."""
    return [
        stats_pb2.TagSpecifier(tag_name="appmesh.listener_protocol", regex=LISTENER_PROTOCOL_REGEX),
        stats_pb2.TagSpecifier(tag_name="appmesh.listener_port", regex=LISTENER_PORT_REGEX),
        stats_pb2.TagSpecifier(tag_name="envoy_rds_route_config", regex=RDS_ROUTE_CONFIG_REGEX),
    ]


def stats_config(proxy: ProxyId, *, fixed_tags: bool = True) -> stats_pb2.StatsConfig:
    """The listener tags, plus the mesh and resource tags when `fixed_tags` (ENABLE_ENVOY_STATS_TAGS)."""
    return stats_pb2.StatsConfig(stats_tags=[*(stats_tags(proxy) if fixed_tags else []), *listener_tags()])
