"""The bootstrap's tracer, chosen by the App Mesh image's variables: X-Ray, Datadog, Jaeger or none.

The translator's HTTP connection managers turn tracing on without naming a provider, so Envoy
uses the one set here for every listener; with none, no spans are made. Datadog and Jaeger
report over HTTP through a collector cluster defined here; X-Ray over UDP straight to its daemon.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.address_pb2 import SocketAddress
from envoy.config.trace.v3.datadog_pb2 import DatadogConfig
from envoy.config.trace.v3.http_tracer_pb2 import Tracing
from envoy.config.trace.v3.xray_pb2 import XRayConfig
from envoy.config.trace.v3.zipkin_pb2 import ZipkinConfig
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct

from meshplane.bootstrap.options import BootstrapOptions
from meshplane.model.ids import ProxyId

DATADOG_CLUSTER = "datadog_agent"
JAEGER_CLUSTER = "jaeger"
ZIPKIN_V2_SPANS = "/api/v2/spans"
XRAY_ORIGIN = "AWS::AppMesh::Proxy"
XRAY_FIXED_TARGET = 1  # requests per second always sampled before the rate applies, X-Ray's default


def collector_cluster(name: str, host: str, port: int) -> Cluster:
    """A collector reached by name or address (STRICT_DNS takes both), as the App Mesh image defined it."""
    cluster = Cluster(name=name, type=Cluster.STRICT_DNS, connect_timeout=Duration(seconds=1))
    cluster.load_assignment.cluster_name = name
    socket = cluster.load_assignment.endpoints.add().lb_endpoints.add().endpoint.address.socket_address
    socket.address, socket.port_value = host, port
    return cluster


def _http_tracer(name: str, config: Message) -> Tracing:
    tracing = Tracing()
    tracing.http.name = name
    tracing.http.typed_config.Pack(config)
    return tracing


def _sampling_manifest(options: BootstrapOptions) -> dict[str, Any]:
    return {"version": 2, "rules": [],
            "default": {"fixed_target": XRAY_FIXED_TARGET, "rate": options.xray_sampling_rate}}  # fmt: skip


def check_sampling_manifest(path: str) -> None:
    """Envoy's X-Ray tracer reads the manifest itself and falls back to its defaults on a bad one: refuse it here."""
    name = "XRAY_SAMPLING_RULE_MANIFEST"
    try:
        manifest = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"{name}={path!r}: cannot be read ({exc.strerror})") from None
    except ValueError:
        raise ValueError(f"{name}={path!r}: is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("version") != 2:
        raise ValueError(f"{name}={path!r}: must be an X-Ray sampling rule manifest of version 2 (Envoy reads no "
                         "other)")  # fmt: skip
    default = manifest.get("default")
    rate = default.get("rate") if isinstance(default, dict) else None
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
        raise ValueError(f"{name}={path!r}: needs a default rule whose rate is between 0 and 1")


def _xray(options: BootstrapOptions, proxy: ProxyId) -> Tracing:
    config = XRayConfig(
        daemon_endpoint=SocketAddress(
            protocol=SocketAddress.UDP, address=options.xray_address, port_value=options.xray_port
        ),
        segment_name=options.xray_segment_name or f"{proxy.mesh}/{proxy.name}",
    )
    if options.xray_sampling_manifest:
        check_sampling_manifest(options.xray_sampling_manifest)
        config.sampling_rule_manifest.filename = options.xray_sampling_manifest
    else:
        config.sampling_rule_manifest.inline_string = json.dumps(_sampling_manifest(options))
    config.segment_fields.origin = XRAY_ORIGIN
    aws = Struct()
    aws.update({"app_mesh": {"mesh_name": proxy.mesh, "virtual_node_name": proxy.name}})
    config.segment_fields.aws.CopyFrom(aws)
    return _http_tracer("envoy.tracers.xray", config)


def _datadog(options: BootstrapOptions, proxy: ProxyId) -> Tracing:
    service = options.datadog_service or f"envoy-{proxy.mesh}/{proxy.name}"
    return _http_tracer("envoy.tracers.datadog", DatadogConfig(collector_cluster=DATADOG_CLUSTER, service_name=service))


def _jaeger(options: BootstrapOptions) -> Tracing:
    version = ZipkinConfig.HTTP_JSON if options.jaeger_json else ZipkinConfig.HTTP_PROTO
    config = ZipkinConfig(
        collector_cluster=JAEGER_CLUSTER, collector_endpoint=ZIPKIN_V2_SPANS, collector_endpoint_version=version
    )
    config.shared_span_context.value = False
    return _http_tracer("envoy.tracers.zipkin", config)


def tracer(options: BootstrapOptions, proxy: ProxyId) -> tuple[Tracing | None, list[Cluster]]:
    """The enabled built-in tracer and the clusters it reports through; (None, []) when tracing is off."""
    if options.xray:
        return _xray(options, proxy), []
    if options.datadog:
        cluster = collector_cluster(DATADOG_CLUSTER, options.datadog_address, options.datadog_port)
        return _datadog(options, proxy), [cluster]
    if options.jaeger:
        return _jaeger(options), [collector_cluster(JAEGER_CLUSTER, options.jaeger_address, options.jaeger_port)]
    return None, []
