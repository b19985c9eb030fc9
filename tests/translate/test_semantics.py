"""Each App Mesh field gets its Envoy meaning, and App Mesh's hidden defaults apply where the spec is silent."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import health_check_pb2
from meshplane.snapshot.types import XdsType
from meshplane.translate.routes import TARGET_HEADER
from support import TestCA

from . import protos
from .catalogue import Pki, gateway, open_mesh, resilience, routing, tls

MAX = 2147483647


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.issue(TestCA(tmp_path_factory.mktemp("semantics-pki")))


def _route(snapshot, config: str, vhost: str, name: str):
    return next(r for r in protos.vhost(protos.routes(snapshot, config), vhost).routes if r.name == name)


def test_routes_are_ordered_by_priority(pki: Pki) -> None:
    snap = protos.node(routing(pki), "caller")
    names = [r.name for r in protos.vhost(protos.routes(snap, "rds_egress_http_8080"), "api.routing.local:8080").routes]
    assert names[:3] == ["http-0", "http-1", "http-2"]
    assert names.index("retrying") > names.index("http-8")


def test_http_matches_map_to_envoy_matchers(pki: Pki) -> None:
    snap = protos.node(routing(pki), "caller")
    config, vh = "rds_egress_http_8080", "api.routing.local:8080"
    assert _route(snap, config, vh, "http-0").match.prefix == "/prefix"
    assert _route(snap, config, vh, "http-1").match.path == "/exact"
    assert _route(snap, config, vh, "http-2").match.safe_regex.regex == "/re/[a-z]+"
    headers = {h.name: h for h in _route(snap, config, vh, "http-3").match.headers}
    assert headers["x-h"].string_match.exact == "e" and headers["x-p"].string_match.prefix == "p"
    inverted = _route(snap, config, vh, "http-4").match.headers[0]
    assert inverted.string_match.suffix == "s" and inverted.invert_match
    present = {h.name: h for h in _route(snap, config, vh, "http-5").match.headers}
    assert present["x-r"].string_match.safe_regex.regex == "a.*z" and present["x-present"].present_match
    ranged = _route(snap, config, vh, "http-6").match.headers[0].range_match
    assert (ranged.start, ranged.end) == (1, 10)
    method = _route(snap, config, vh, "http-7").match.headers[0]
    assert (method.name, method.string_match.exact) == (":method", "POST")
    query = {q.name: q for q in _route(snap, config, vh, "http-8").match.query_parameters}
    assert query["q"].string_match.exact == "1" and query["flag"].present_match


def test_weighted_targets_use_the_target_listener_port_cluster(pki: Pki) -> None:
    snap = protos.node(routing(pki), "caller")
    action = _route(snap, "rds_egress_http_8080", "api.routing.local:8080", "http-0").route
    assert {(c.name, c.weight.value) for c in action.weighted_clusters.clusters} == {
        ("cds_egress_routing_v1_http_8080", 80),
        ("cds_egress_routing_v2_http_8080", 20),
    }
    zero = _route(snap, "rds_egress_http_8080", "api.routing.local:8080", "zero-weight").route
    assert zero.cluster == "cds_egress_routing_v1_http_8080"


def test_retry_events_map_precisely_and_timeouts_apply(pki: Pki) -> None:
    snap = protos.node(routing(pki), "caller")
    action = _route(snap, "rds_egress_http_8080", "api.routing.local:8080", "retrying").route
    policy = action.retry_policy
    assert policy.retry_on.split(",") == [
        "retriable-status-codes",
        "gateway-error",
        "refused-stream",
        "connect-failure",
    ]
    assert list(policy.retriable_status_codes) == [409, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511]
    assert policy.num_retries.value == 3 and policy.per_try_timeout.ToMilliseconds() == 250
    assert action.timeout.seconds == 3 and action.idle_timeout.ToMilliseconds() == 9000


def test_app_mesh_default_retry_and_timeout_apply_when_the_route_is_silent(pki: Pki) -> None:
    snap = protos.node(routing(pki), "caller")
    action = _route(snap, "rds_egress_http_8080", "api.routing.local:8080", "http-0").route
    policy = action.retry_policy
    assert set(policy.retry_on.split(",")) == {
        "connect-failure",
        "refused-stream",
        "unavailable",
        "retriable-status-codes",
    }
    assert list(policy.retriable_status_codes) == [503] and policy.num_retries.value == 2
    assert policy.host_selection_retry_max_attempts == 5
    assert [p.name for p in policy.retry_host_predicate] == ["envoy.retry_host_predicates.previous_hosts"]
    assert action.timeout.seconds == 15


def test_grpc_routes_match_service_method_and_metadata(pki: Pki) -> None:
    snap = protos.node(routing(pki), "caller")
    route = _route(snap, "rds_egress_grpc_8082", "api.routing.local:8082", "grpc-method")
    assert route.match.path == "/pkg.Svc/Get" and route.match.HasField("grpc")
    assert {h.name for h in route.match.headers} == {"tenant", "debug"}
    assert set(route.route.retry_policy.retry_on.split(",")) >= {"cancelled", "deadline-exceeded", "unavailable"}
    service_only = _route(snap, "rds_egress_grpc_8082", "api.routing.local:8082", "grpc-service")
    assert service_only.match.prefix == "/pkg.Svc/"


def test_http2_scheme_match_and_tcp_weighted_proxy(pki: Pki) -> None:
    snap = protos.node(routing(pki), "caller")
    scheme = _route(snap, "rds_egress_http2_8081", "api.routing.local:8081", "h2").match.headers[0]
    assert (scheme.name, scheme.string_match.exact) == (":scheme", "https")
    egress = protos.listener(snap, "lds_egress_0.0.0.0_15001")
    tcp = protos.tcp_proxy(next(c for c in egress.filter_chains if c.name == "tcp_8083"))
    assert {(c.name, c.weight) for c in tcp.weighted_clusters.clusters} == {
        ("cds_egress_routing_v1_tcp_8083", 3),
        ("cds_egress_routing_v2_tcp_8083", 1),
    }
    assert tcp.idle_timeout.seconds == 30


def test_egress_virtual_hosts_answer_to_name_and_name_port(pki: Pki) -> None:
    snap = protos.node(routing(pki), "caller")
    vh = protos.vhost(protos.routes(snap, "rds_egress_http_8080"), "api.routing.local:8080")
    assert list(vh.domains) == ["api.routing.local", "api.routing.local:8080"]


def test_multi_listener_node_matches_ingress_on_destination_port_single_does_not(pki: Pki) -> None:
    state = routing(pki)
    multi = protos.listener(protos.node(state, "v1"), "lds_ingress_0.0.0.0_15000")
    assert sorted(c.filter_chain_match.destination_port.value for c in multi.filter_chains) == [8080, 8081, 8082, 8083]
    single = protos.listener(protos.node(state, "caller"), "lds_ingress_0.0.0.0_15000")
    assert [c.filter_chain_match.HasField("destination_port") for c in single.filter_chains] == [False]


def test_endpoints_carry_port_health_and_zone(pki: Pki) -> None:
    snap = protos.node(routing(pki), "caller")
    cla = snap.of(XdsType.ENDPOINTS)["cds_egress_routing_v1_http_8080"]
    seen = {
        (
            loc.locality.zone,
            lb.endpoint.address.socket_address.address,
            lb.endpoint.address.socket_address.port_value,
            lb.health_status,
        )
        for loc in cla.endpoints
        for lb in loc.lb_endpoints
    }
    assert seen == {
        ("us-west-2a", "10.1.0.1", 15000, health_check_pb2.HEALTHY),
        ("us-west-2b", "10.1.0.2", 15000, health_check_pb2.UNHEALTHY),
    }
    listener_port = snap.of(XdsType.ENDPOINTS)["cds_egress_routing_v2_http_8080"].endpoints[0].lb_endpoints[0]
    assert listener_port.endpoint.address.socket_address.port_value == 8080


def test_health_check_and_outlier_detection_live_on_the_callers_cluster(pki: Pki) -> None:
    state = resilience(pki)
    caller = protos.cluster(protos.node(state, "caller"), "cds_egress_resilience_store_http_8080")
    hc = caller.health_checks[0]
    assert hc.http_health_check.path == "/health" and hc.interval.seconds == 5 and hc.unhealthy_threshold.value == 3
    assert hc.no_traffic_interval.seconds == 5
    assert (
        caller.outlier_detection.consecutive_5xx.value == 5
        and caller.outlier_detection.max_ejection_percent.value == 50
    )
    assert caller.outlier_detection.base_ejection_time.seconds == 30
    assert (
        protos.cluster(protos.node(state, "caller"), "cds_egress_resilience_store_grpc_8082")
        .health_checks[0]
        .HasField("grpc_health_check")
    )
    own = protos.cluster(protos.node(state, "store"), "cds_ingress_resilience_store_http_8080")
    assert not own.health_checks and not own.HasField("outlier_detection")


def test_health_check_port_goes_to_each_endpoint(pki: Pki) -> None:
    snap = protos.node(resilience(pki), "caller")
    cla = snap.of(XdsType.ENDPOINTS)["cds_egress_resilience_store_http_8080"]
    ports = {lb.endpoint.health_check_config.port_value for loc in cla.endpoints for lb in loc.lb_endpoints}
    assert ports == {0, 8081}  # endpoints reached on their own port keep it; listener-port ones use 8081


def test_cloud_map_attributes_filter_the_instances(pki: Pki) -> None:
    snap = protos.node(resilience(pki), "caller")
    cla = snap.of(XdsType.ENDPOINTS)["cds_egress_resilience_store_http_8080"]
    assert {lb.endpoint.address.socket_address.address for loc in cla.endpoints for lb in loc.lb_endpoints} == {
        "10.3.0.1",
        "10.3.0.3",
    }


def test_connection_pool_is_circuit_breakers_on_the_local_app_cluster(pki: Pki) -> None:
    snap = protos.node(resilience(pki), "store")
    http = protos.cluster(snap, "cds_ingress_resilience_store_http_8080").circuit_breakers.thresholds[0]
    assert (http.max_connections.value, http.max_pending_requests.value, http.max_requests.value) == (10, 5, MAX)
    h2 = protos.cluster(snap, "cds_ingress_resilience_store_http2_8081").circuit_breakers.thresholds[0]
    assert (h2.max_connections.value, h2.max_requests.value) == (MAX, 7)
    caller = protos.cluster(protos.node(resilience(pki), "caller"), "cds_egress_resilience_store_http_8080")
    assert caller.circuit_breakers.thresholds[0].max_connections.value == MAX


def test_listener_timeouts_reach_ingress_routes_and_managers(pki: Pki) -> None:
    snap = protos.node(resilience(pki), "store")
    route = protos.routes(snap, "rds_ingress_http_8080").virtual_hosts[0].routes[0]
    assert route.route.timeout.seconds == 4 and route.route.idle_timeout.seconds == 40
    ingress = protos.listener(snap, "lds_ingress_0.0.0.0_15000")
    chain = next(c for c in ingress.filter_chains if c.filter_chain_match.destination_port.value == 8080)
    assert protos.manager(chain).common_http_protocol_options.idle_timeout.seconds == 40
    tcp_chain = next(c for c in ingress.filter_chains if c.filter_chain_match.destination_port.value == 8083)
    assert protos.tcp_proxy(tcp_chain).idle_timeout.seconds == 7


def test_dns_discovery_picks_cluster_type_and_lookup_family(pki: Pki) -> None:
    snap = protos.node(resilience(pki), "caller")
    lb = protos.cluster(snap, "cds_egress_resilience_dns-lb_http_9000")
    ep = protos.cluster(snap, "cds_egress_resilience_dns-ep_http_9001")
    plain = protos.cluster(snap, "cds_egress_resilience_dns-plain_http_9002")
    assert (lb.type, lb.dns_lookup_family) == (cluster_pb2.Cluster.LOGICAL_DNS, cluster_pb2.Cluster.AUTO)
    assert (ep.type, ep.dns_lookup_family) == (cluster_pb2.Cluster.STRICT_DNS, cluster_pb2.Cluster.V6_ONLY)
    assert (plain.type, plain.dns_lookup_family) == (cluster_pb2.Cluster.LOGICAL_DNS, cluster_pb2.Cluster.V4_ONLY)
    assert lb.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address == "lb.example.com"
    assert "cds_egress_resilience_dns-lb_http_9000" not in snap.of(XdsType.ENDPOINTS)
    assert ep.load_assignment.endpoints[0].lb_endpoints[0].endpoint.health_check_config.port_value == 9100


def test_access_log_formats(pki: Pki) -> None:
    from envoy.extensions.access_loggers.file.v3 import file_pb2

    state = resilience(pki)
    store = protos.manager(protos.listener(protos.node(state, "store"), "lds_ingress_0.0.0.0_15000").filter_chains[0])
    log = protos.unpack(store.access_log[0].typed_config, file_pb2.FileAccessLog)
    assert log.path == "/dev/stdout" and log.log_format.json_format.fields["code"].string_value == "%RESPONSE_CODE%"
    caller = protos.manager(protos.listener(protos.node(state, "caller"), "lds_ingress_0.0.0.0_15000").filter_chains[0])
    text = protos.unpack(caller.access_log[0].typed_config, file_pb2.FileAccessLog)
    assert text.log_format.text_format_source.inline_string == "%START_TIME% %RESPONSE_CODE%\n"


def test_strict_tls_has_one_tls_chain_permissive_adds_a_plaintext_one(pki: Pki) -> None:
    state = tls(pki)
    strict = protos.listener(protos.node(state, "strict"), "lds_ingress_0.0.0.0_15000")
    assert [c.filter_chain_match.transport_protocol for c in strict.filter_chains] == ["tls"]
    context = protos.downstream_tls(strict.filter_chains[0])
    assert context.require_client_certificate.value
    assert context.common_tls_context.validation_context.trusted_ca.filename == pki.ca
    assert [m.matcher.exact for m in context.common_tls_context.validation_context.match_typed_subject_alt_names] == [
        "svc.catalogue.local"
    ]
    permissive = protos.listener(protos.node(state, "permissive"), "lds_ingress_0.0.0.0_15000")
    assert [c.filter_chain_match.transport_protocol for c in permissive.filter_chains] == ["tls", "raw_buffer"]
    assert "envoy.filters.listener.tls_inspector" in [f.name for f in permissive.listener_filters]
    disabled = protos.listener(protos.node(state, "disabled"), "lds_ingress_0.0.0.0_15000")
    assert not disabled.filter_chains[0].HasField("transport_socket")


def test_client_tls_originates_with_client_certs_only_on_listed_ports(pki: Pki) -> None:
    snap = protos.node(tls(pki), "client")
    strict = protos.upstream_tls(protos.cluster(snap, "cds_egress_tls_strict_http_8443"))
    assert strict.common_tls_context.tls_certificates[0].certificate_chain.filename == pki.chain
    assert strict.common_tls_context.validation_context.match_typed_subject_alt_names[0].matcher.exact == (
        "svc.catalogue.local"
    )
    assert not protos.cluster(snap, "cds_egress_tls_disabled_http_8445").HasField("transport_socket")
    assert protos.cluster(snap, "cds_egress_tls_multi_http_8446").HasField("transport_socket")
    assert not protos.cluster(snap, "cds_egress_tls_multi_tcp_8447").HasField("transport_socket")
    per_backend = protos.upstream_tls(protos.cluster(snap, "cds_egress_tls_permissive_http_8444"))
    assert per_backend.common_tls_context.tls_certificate_sds_secret_configs[0].name == "client-cert"
    lenient = protos.node(tls(pki), "lenient")
    assert not protos.cluster(lenient, "cds_egress_tls_strict_http_8443").HasField("transport_socket")


def test_drop_all_allows_only_amazonaws_beyond_declared_backends(pki: Pki) -> None:
    snap = protos.node(routing(pki), "caller")
    egress = protos.listener(snap, "lds_egress_0.0.0.0_15001")
    aws = next(c for c in egress.filter_chains if c.name == "amazonaws")
    assert list(aws.filter_chain_match.server_names) == ["*.amazonaws.com"]
    direct = protos.routes(snap, "rds_egress_http_15001")
    assert "*" not in {d for v in direct.virtual_hosts for d in v.domains}
    assert "cds_egress_routing_passthrough" not in snap.of(XdsType.CLUSTERS)
    # Nothing catches the rest: a connection to an undeclared port matches no chain and is closed.
    assert not egress.HasField("default_filter_chain")
    direct_chain = next(c for c in egress.filter_chains if c.name == "direct")
    assert direct_chain.filter_chain_match.destination_port.value == 15001


def test_allow_all_passes_undeclared_destinations_to_the_original_destination(pki: Pki) -> None:
    snap = protos.node(open_mesh(pki), "caller")
    direct = protos.routes(snap, "rds_egress_http_15001")
    passthrough = protos.vhost(direct, "allow_all")
    assert list(passthrough.domains) == ["*"]
    assert passthrough.routes[0].route.cluster == "cds_egress_open_passthrough"
    assert protos.cluster(snap, "cds_egress_open_passthrough").type == cluster_pb2.Cluster.ORIGINAL_DST
    # Any other connection, whatever it speaks, is proxied as TCP to where the app sent it.
    egress = protos.listener(snap, "lds_egress_0.0.0.0_15001")
    assert protos.tcp_proxy(egress.default_filter_chain).cluster == "cds_egress_open_passthrough"
    assert not egress.default_filter_chain.HasField("filter_chain_match")


def _steering(route) -> str:
    return next(h.header.value for h in route.request_headers_to_add if h.header.key == TARGET_HEADER)


def test_gateway_routes_rewrite_host_and_prefix_by_default_and_loop_through_self_redirect(pki: Pki) -> None:
    snap = protos.gateway(gateway(pki), "ingress")
    config = protos.routes(snap, "rds_ingress_http_8088")
    exact = protos.vhost(config, "gateway:shop.example.com")
    route = next(r for r in exact.routes if r.name == "exact-host")
    assert route.route.host_rewrite_literal == "web.local" and route.route.prefix_rewrite == "/"
    assert route.route.cluster == "cds_ingress_gw_ingress_self_redirect_http_8088"
    assert _steering(route) == "web.local:8080"
    suffix = protos.vhost(config, "gateway:*.example.org")
    assert _steering(next(r for r in suffix.routes if r.name == "suffix-host")) == "web.local:9443"
    anyhost = {r.name: r for r in protos.vhost(config, "gateway:*").routes}
    assert anyhost["rewrite-prefix"].route.prefix_rewrite == "/new/"
    assert not anyhost["rewrite-prefix"].route.host_rewrite_literal
    assert anyhost["keep-prefix"].route.prefix_rewrite == ""
    assert anyhost["path"].route.regex_rewrite.substitution == "/b"
    assert not any(v.name.startswith("web.local") for v in config.virtual_hosts), "no bypass by Host: web.local"
    redirect = protos.cluster(snap, "cds_ingress_gw_ingress_self_redirect_http_8088")
    assert redirect.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value == 8088
    listener = protos.listener(snap, "lds_ingress_0.0.0.0_8088")
    assert all(protos.manager(c).strip_any_host_port for c in listener.filter_chains)


def test_gateway_routes_order_priority_first_then_longest_prefix(pki: Pki) -> None:
    snap = protos.gateway(gateway(pki), "ingress")
    gateway_routes = protos.vhost(protos.routes(snap, "rds_ingress_http_8088"), "gateway:*").routes
    names = [r.name for r in gateway_routes if not any(h.name == TARGET_HEADER for h in r.match.headers)]
    assert names == ["path", "keep-prefix", "rewrite-prefix", "headers"]  # equal-length prefixes go by name


def test_every_gateway_vhost_starts_with_the_steered_routes_of_its_targets(pki: Pki) -> None:
    snap = protos.gateway(gateway(pki), "ingress")
    for vhost in protos.routes(snap, "rds_ingress_http_8088").virtual_hosts:
        steered = [r for r in vhost.routes if any(h.name == TARGET_HEADER for h in r.match.headers)]
        assert [r.name for r in vhost.routes[: len(steered)]] == [r.name for r in steered]
        targets = [(r.route.cluster, next(h for h in r.match.headers if h.name == TARGET_HEADER)) for r in steered]
        assert [(c, h.string_match.exact) for c, h in targets] == [
            ("cds_egress_gw_web_http_8080", "web.local:8080"),
            ("cds_egress_gw_web_http_8080", "web.local:9443"),  # route "r" has no port match: both ports
            ("cds_egress_gw_web_http_9443", "web.local:9443"),
        ]
        assert all(list(r.request_headers_to_remove) == [TARGET_HEADER] for r in steered)


def test_ip_preference_picks_the_local_app_address_and_mesh_default_applies(pki: Pki) -> None:
    state = resilience(pki)
    v6 = protos.cluster(protos.node(state, "dns-lb"), "cds_ingress_resilience_dns-lb_http_9000")
    assert v6.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address == "::1"
    v4 = protos.cluster(protos.node(state, "dns-plain"), "cds_ingress_resilience_dns-plain_http_9002")
    assert v4.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address == "127.0.0.1"


def test_strict_gateway_listener_keeps_a_local_only_plaintext_chain_for_its_loop_back_hop(pki: Pki) -> None:
    from envoy.config.listener.v3 import listener_components_pb2 as lc

    strict = protos.listener(protos.gateway(gateway(pki), "ingress"), "lds_ingress_0.0.0.0_8089")
    matches = [
        (c.filter_chain_match.transport_protocol, c.filter_chain_match.source_type)
        for c in strict.filter_chains
    ]
    assert matches == [("tls", lc.FilterChainMatch.ANY), ("raw_buffer", lc.FilterChainMatch.SAME_IP_OR_LOOPBACK)]
