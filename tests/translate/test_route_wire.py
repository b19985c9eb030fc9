"""Route configs written as bytes (`translate.route_wire`) are exactly what protobuf writes for the same messages."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from google.protobuf import duration_pb2
from meshplane.graph.view import IngressListener, Protocol
from meshplane.model import shapes
from meshplane.translate import routes as ingress_routes
from meshplane.translate.route_wire import CatchAllTemplate, HostWire, RouteTemplate, config, host_field

LONG = "svc-" + "x" * 200  # lengths past one varint byte


def _template(name: str = "default") -> rc.Route:
    action = rc.RouteAction(timeout=duration_pb2.Duration(seconds=15))
    action.retry_policy.retry_on = "gateway-error"
    return rc.Route(name=name, match=rc.RouteMatch(prefix="/"), route=action)


@pytest.mark.parametrize("cluster", ["cds_egress_m_a_http_8080", LONG])
def test_a_template_route_completed_with_a_cluster_is_the_built_route(cluster: str) -> None:
    built = _template()
    built.route.cluster = cluster
    assert RouteTemplate.of(_template()).to(cluster) == built.SerializeToString(deterministic=True)


def test_a_route_with_more_than_a_template_holds_is_refused() -> None:
    route = _template()
    route.decorator.operation = "op"
    with pytest.raises(ValueError, match="more than"):
        RouteTemplate.of(route)


@pytest.mark.parametrize("service", ["a.local", LONG])
def test_hosts_and_configs_written_as_bytes_are_the_built_messages(service: str) -> None:
    routes = [_template("one"), _template("two")]
    for n, route in enumerate(routes):
        route.route.cluster = f"c{n}"
    wire = HostWire.of(service, 8080, [r.SerializeToString(deterministic=True) for r in routes])
    other = rc.VirtualHost(name="allow_all", domains=["*"], routes=[routes[0]])
    written = config("rds_egress_http_8080", [wire.under(wire.service, wire.service_port),
                                              wire.under(wire.service_port), host_field(other)])
    expected = RouteConfiguration(name="rds_egress_http_8080", virtual_hosts=[
        rc.VirtualHost(name=f"{service}:8080", domains=[service, f"{service}:8080"], routes=routes),
        rc.VirtualHost(name=f"{service}:8080", domains=[f"{service}:8080"], routes=routes),
        other,
    ])
    assert written == expected.SerializeToString(deterministic=True)
    kept = (wire.in_port_config(), wire.in_direct_config(bare=True), wire.in_direct_config(bare=False))
    assert kept == (wire.under(wire.service, wire.service_port), wire.under(wire.service_port, wire.service),
                    wire.under(wire.service_port))  # fmt: skip
    again = (wire.in_port_config(), wire.in_direct_config(bare=True), wire.in_direct_config(bare=False))
    assert all(a is b for a, b in zip(again, kept, strict=True)), "each field is written once per host"


def _timeout(**members: Any) -> shapes.ListenerTimeout | None:
    return shapes.ListenerTimeout.model_validate(members) if members else None


MS, S = {"unit": "ms", "value": 250}, {"unit": "s", "value": 3600}


@pytest.mark.parametrize("protocol", ["http", "http2", "grpc"])
@pytest.mark.parametrize("timeout", [{}, {"http": {"perRequest": MS}}, {"http2": {"idle": S}},
                                     {"grpc": {"perRequest": S, "idle": MS}}, {"http": {}}])
@pytest.mark.parametrize(("port", "cluster"), [(8080, "cds_ingress_m_a_http_8080"), (65535, LONG), (1, "c")])
def test_an_ingress_config_joined_from_its_template_is_the_built_config(
    protocol: Protocol, timeout: dict[str, Any], port: int, cluster: str
) -> None:
    listener = IngressListener(port, protocol, cluster, None, _timeout(**timeout), None)
    template = CatchAllTemplate.of(ingress_routes._ingress(listener, to_cluster=False))
    assert template.to(cluster) == ingress_routes._ingress(listener).SerializeToString(deterministic=True)


def test_a_config_with_more_than_a_catch_all_template_holds_is_refused() -> None:
    listener = IngressListener(8080, "http", "c", None, None, None)
    with_cluster, with_domain = ingress_routes._ingress(listener), ingress_routes._ingress(listener, to_cluster=False)
    with_domain.virtual_hosts[0].domains.append("other")
    for built in (with_cluster, with_domain):
        with pytest.raises(ValueError, match="more than"):
            CatchAllTemplate.of(built)
