"""Route configs written as bytes (`translate.route_wire`) are exactly what protobuf writes for the same messages."""

from __future__ import annotations

import pytest
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from google.protobuf import duration_pb2
from meshplane.translate.route_wire import HostWire, RouteTemplate, config, host_field

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
