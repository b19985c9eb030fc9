"""Envoy side of the `jwt` section: the `jwt_authn` filter, its rules and the remote JWKS clusters.

The filter runs in the ingress connection managers of the target node or gateway, after the
gateway's own health check (a load balancer's probe carries no token) and before authorization
and routing, so a request's identity is settled before anything decides on it.

Headers a provider writes from a verified token (`claimToHeaders`, `forwardPayloadHeader`) are
removed by the filter from every request it sees, verified or not, so a client cannot set them
itself on a public path (the traffic test holds Envoy to that).

A gateway's request crosses its listener twice: the client's hop matches the gateway route and
rewrites the path, the loop-back hop steers it to the target.  Tokens are checked on the
client's hop only, where the path is the one the client sent and the rules are written for.  The
loop-back hop leaves from a loopback source address reserved for it (`LOOPBACK_HOP_SOURCE`) and
lands on a chain of its own without the filter; nothing outside the gateway's own network
namespace can connect from that address, so a client cannot skip the check by imitating the
hop (the gateway's steering header alone would not do: a client can send it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3 import address_pb2, base_pb2, http_uri_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import empty_pb2

from meshplane.graph import names
from meshplane.model.policy.jwt import JwtAuthentication, JwtProvider, JwtRule, RemoteJwks
from meshplane.translate.core import address, millis, seconds, typed

FILTER = "envoy.filters.http.jwt_authn"
STAT_PREFIX = "policy_jwt"
REPLY_DETAILS = "jwt_authn_access_denied"  # how the filter's own local replies start their response code details
CEL_FILTER = "envoy.access_loggers.extension_filters.cel"
TLS_SOCKET = "envoy.transport_sockets.tls"
LOOPBACK_HOP_SOURCE = "127.0.0.2"
CONNECT_TIMEOUT_S = 2.0
JWKS_FETCH_RETRIES = 3
# The system CA bundle where App Mesh's Envoy image keeps it; meshplane's sidecar image links it there too.
# (Envoy's own `system_root_certs` is not implemented for TLS sockets, and a SAN check needs a CA.)
SYSTEM_CA_BUNDLE = "/etc/pki/tls/cert.pem"
FETCH_TIMEOUT_MS = 5000  # one JWKS fetch when the section gives no timeout (Envoy requires one)


def http_filters(section: JwtAuthentication | None, mesh: str) -> list[hcm.HttpFilter]:
    """The filter a client-facing ingress connection manager runs for `section`: none without one."""
    if section is None:
        return []
    return [hcm.HttpFilter(name=FILTER, typed_config=typed(authentication(section, mesh)))]


def local_reply(section: JwtAuthentication | None) -> hcm.LocalReplyConfig | None:
    """A token for another audience is answered 401 like any other invalid token (RFC 6750's
    `invalid_token`, which Envoy's own `WWW-Authenticate` names too), not Envoy's 403: 403 stays
    the answer of authorization, which decides on a caller whose identity is settled.

    Only the filter's own replies are rewritten, told apart by their response code details: a
    failure metadata key would not do, as a token one provider refuses may still pass another
    and meet authorization's 403 later.
    """
    if section is None:
        return None
    own = cel_pb2.ExpressionFilter(expression=f"response.code_details.startsWith('{REPLY_DETAILS}')")
    comparison = accesslog_pb2.ComparisonFilter(
        op=accesslog_pb2.ComparisonFilter.EQ,
        value=base_pb2.RuntimeUInt32(default_value=403, runtime_key="meshplane.jwt.forbidden"),
    )
    refused = accesslog_pb2.AccessLogFilter(
        and_filter=accesslog_pb2.AndFilter(
            filters=[
                accesslog_pb2.AccessLogFilter(status_code_filter=accesslog_pb2.StatusCodeFilter(comparison=comparison)),
                accesslog_pb2.AccessLogFilter(
                    extension_filter=accesslog_pb2.ExtensionFilter(name=CEL_FILTER, typed_config=typed(own))
                ),
            ]
        )
    )
    mapper = hcm.ResponseMapper(filter=refused)
    mapper.status_code.value = 401
    return hcm.LocalReplyConfig(mappers=[mapper])


def authentication(section: JwtAuthentication, mesh: str) -> jwt_pb2.JwtAuthentication:
    """Providers by name and the rules, most specific match first, ending with the catch-all."""
    config = jwt_pb2.JwtAuthentication(stat_prefix=STAT_PREFIX, bypass_cors_preflight=True)
    for provider in section.providers:
        config.providers[provider.name].CopyFrom(_provider(provider, mesh))
    for rule in _ordered(section.rules):
        config.rules.append(_rule(rule.match.member, rule.providers, rule.allow_missing))
    if not any(rule.match.prefix == "/" for rule in section.rules):
        config.rules.append(_rule(("prefix", "/"), [p.name for p in section.providers], False))
    return config


def _ordered(rules: Iterable[JwtRule]) -> list[JwtRule]:
    """Envoy takes the first rule that matches: exact paths, then prefixes from the longest."""
    return sorted(rules, key=lambda rule: (rule.match.exact is None, -len(rule.match.member[1]), rule.match.member[1]))


def route_match(kind: str, path: str) -> rc.RouteMatch:
    """An exact path, or a prefix at a segment boundary: `/public` covers `/public` and `/public/...`
    but not `/publicity`, which a plain string prefix would make public too."""
    if kind == "exact":
        return rc.RouteMatch(path=path)
    if path.endswith("/"):
        return rc.RouteMatch(prefix=path)
    return rc.RouteMatch(path_separated_prefix=path)


def _rule(match: tuple[str, str], providers: list[str], allow_missing: bool) -> jwt_pb2.RequirementRule:
    rule = jwt_pb2.RequirementRule(match=route_match(*match))
    if providers or not allow_missing:  # no requirement at all: a public path, no token is looked at
        rule.requires.CopyFrom(_requirement(providers, allow_missing))
    return rule


def _requirement(providers: list[str], allow_missing: bool) -> jwt_pb2.JwtRequirement:
    choices = [jwt_pb2.JwtRequirement(provider_name=name) for name in providers]
    if allow_missing:
        choices.append(jwt_pb2.JwtRequirement(allow_missing=empty_pb2.Empty()))
    if len(choices) == 1:
        return choices[0]
    return jwt_pb2.JwtRequirement(requires_any=jwt_pb2.JwtRequirementOrList(requirements=choices))


def _provider(provider: JwtProvider, mesh: str) -> jwt_pb2.JwtProvider:
    out = jwt_pb2.JwtProvider(
        issuer=provider.issuer,
        audiences=provider.audiences,
        forward=provider.forward,
        require_expiration=provider.require_expiration,
        from_headers=[jwt_pb2.JwtHeader(name=h.name, value_prefix=h.value_prefix or "") for h in provider.from_headers],
        from_params=provider.from_params,
        from_cookies=provider.from_cookies,
        forward_payload_header=provider.forward_payload_header or "",
        claim_to_headers=[jwt_pb2.JwtClaimToHeader(header_name=c.header, claim_name=c.claim)
                          for c in provider.claim_to_headers],
    )
    if provider.clock_skew_seconds is not None:
        out.clock_skew_seconds = provider.clock_skew_seconds
    inline, remote = provider.jwks.inline, provider.jwks.remote
    if inline is not None:
        out.local_jwks.CopyFrom(base_pb2.DataSource(inline_string=inline))
    elif remote is not None:
        out.remote_jwks.CopyFrom(_remote(remote, mesh))
    return out


def _remote(remote: RemoteJwks, mesh: str) -> jwt_pb2.RemoteJwks:
    """Fetched when the listener starts (it waits for the first answer) and again once the cache expires."""
    fetch = jwt_pb2.RemoteJwks(
        http_uri=http_uri_pb2.HttpUri(uri=remote.uri, cluster=jwks_cluster_name(remote, mesh)),
        async_fetch=jwt_pb2.JwksAsyncFetch(),
    )
    fetch.http_uri.timeout.CopyFrom(millis(remote.timeout.millis if remote.timeout is not None else FETCH_TIMEOUT_MS))
    if remote.cache_duration is not None:
        fetch.cache_duration.CopyFrom(millis(remote.cache_duration.millis))
    fetch.retry_policy.num_retries.value = JWKS_FETCH_RETRIES
    return fetch


# --- remote JWKS clusters ---------------------------------------------------------------------


def jwks_cluster_name(remote: RemoteJwks, mesh: str) -> str:
    host, port, _ = remote.endpoint
    return names.jwks_cluster(mesh, host, port)


def clusters(section: JwtAuthentication | None, mesh: str) -> dict[str, Cluster]:
    """One cluster per distinct JWKS host and port among the section's remote providers."""
    out: dict[str, Cluster] = {}
    for provider in section.providers if section is not None else ():
        remote = provider.jwks.remote
        if remote is not None:
            name = jwks_cluster_name(remote, mesh)
            out.setdefault(name, _jwks_cluster(name, remote))
    return out


def _literal_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _jwks_cluster(name: str, remote: RemoteJwks) -> Cluster:
    """A key server by IP is static; by name it is resolved by DNS (logical: one connection target at a time)."""
    host, port, secure = remote.endpoint
    cluster = Cluster(
        name=name,
        type=Cluster.STATIC if _literal_ip(host) else Cluster.LOGICAL_DNS,
        connect_timeout=seconds(CONNECT_TIMEOUT_S),
        dns_lookup_family=Cluster.V4_PREFERRED,
    )
    lb = endpoint_components_pb2.LbEndpoint(endpoint=endpoint_components_pb2.Endpoint(address=address(host, port)))
    cluster.load_assignment.CopyFrom(
        endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name, endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[lb])]
        )
    )
    if secure:
        cluster.transport_socket.CopyFrom(_tls_socket(host, remote.ca_certificate_file))
    return cluster


def _tls_socket(host: str, ca_file: str | None) -> base_pb2.TransportSocket:
    """TLS that checks the key server's certificate against the CA and its name against the URI's host.

    Envoy verifies no name by default, so the SAN matcher is what ties the certificate to the host.
    Without `caCertificateFile` the system bundle is used: an Envoy run outside the App Mesh or
    meshplane images needs one at `SYSTEM_CA_BUNDLE`.
    """
    ip = _literal_ip(host)
    validation = common_pb2.CertificateValidationContext(
        match_typed_subject_alt_names=[
            common_pb2.SubjectAltNameMatcher(
                san_type=common_pb2.SubjectAltNameMatcher.IP_ADDRESS if ip else common_pb2.SubjectAltNameMatcher.DNS,
                matcher=string_pb2.StringMatcher(exact=host),
            )
        ]
    )
    validation.trusted_ca.CopyFrom(base_pb2.DataSource(filename=ca_file or SYSTEM_CA_BUNDLE))
    context = tls_pb2.UpstreamTlsContext(
        common_tls_context=tls_pb2.CommonTlsContext(validation_context=validation), sni="" if ip else host
    )
    return base_pb2.TransportSocket(name=TLS_SOCKET, typed_config=typed(context))


# --- a gateway's loop-back hop --------------------------------------------------------------


def bind_loop_back_hop(cluster: Cluster) -> None:
    """The gateway's self-redirect cluster connects from the reserved loopback source address."""
    cluster.upstream_bind_config.source_address.CopyFrom(
        address_pb2.SocketAddress(address=LOOPBACK_HOP_SOURCE, port_value=0)
    )


def loop_back_hop_match(tls: bool) -> lc.FilterChainMatch:
    """Connections from the reserved source only: the gateway's own loop-back hop (plaintext, on a
    listener with TLS told apart from a client's TLS by the inspector)."""
    match = lc.FilterChainMatch()  # a source type would be matched first, taking every local client along
    if tls:
        match.transport_protocol = "raw_buffer"
    match.source_prefix_ranges.add(address_prefix=LOOPBACK_HOP_SOURCE, prefix_len={"value": 32})
    return match
