"""Envoy side of the `authorization` section: RBAC filters on the target proxy's ingress.

Precedence (see `model.policy.authorization`) takes two filters: a DENY-action RBAC with the DENY
rules runs first, then, when the section has ALLOW rules, an ALLOW-action RBAC with those.  HTTP
listeners get the HTTP RBAC filter (a refusal is 403) after JWT authentication and before the
router; TCP listeners get the network RBAC filter before `tcp_proxy` (a refusal closes the
connection), where a rule's `to` is read fail-closed.

Callers are matched by the `mtls_authenticated` principal: a SAN of a given type (DNS or URI) of
a client certificate that the listener's TLS validated.  Envoy's plain `authenticated` principal
would also take a DNS SAN or the subject for a URI, so a SPIFFE ID written as a DNS name would pass.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2, extension_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as network_rbac_pb2
from envoy.extensions.rbac.principals.mtls_authenticated.v3 import mtls_authenticated_pb2 as mtls_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.matcher.v3 import path_pb2, string_pb2

from meshplane.model.policy.authorization import Authorization, Caller, Operation, PathMatch, Rule, SanMatch
from meshplane.translate.core import typed

HTTP_FILTER = "envoy.filters.http.rbac"
NETWORK_FILTER = "envoy.filters.network.rbac"
MTLS_PRINCIPAL = "envoy.rbac.principals.mtls_authenticated"
STAT_PREFIX = "policy_authorization_"
_SAN_TYPES = {"DNS": common_pb2.SubjectAltNameMatcher.DNS, "URI": common_pb2.SubjectAltNameMatcher.URI}
_ACTIONS = {"ALLOW": rbac_pb2.RBAC.ALLOW, "DENY": rbac_pb2.RBAC.DENY}


def http_filters(section: Authorization | None, mesh: str) -> list[hcm.HttpFilter]:
    """The RBAC filters of an HTTP ingress connection manager: none without a section."""
    if section is None:
        return []
    return [
        hcm.HttpFilter(name=HTTP_FILTER, typed_config=typed(http_rbac_pb2.RBAC(
            rules=rules, rules_stat_prefix=f"{STAT_PREFIX}{action.lower()}_")))
        for action, rules in _rule_sets(section, mesh, http=True)
    ]


def downstream_socket(socket: base_pb2.TransportSocket, section: Authorization | None) -> base_pb2.TransportSocket:
    """The listener's TLS, without session resumption when a section judges callers by their certificate.

    Envoy does not mark a resumed session's client certificate as validated (envoyproxy/envoy#42668),
    so on every resumed connection the caller would lose its identity: ALLOW rules would refuse it
    and DENY rules would let it through.  Every connection does a full handshake instead.
    """
    if section is None:
        return socket
    context = tls_pb2.DownstreamTlsContext()
    socket.typed_config.Unpack(context)
    context.disable_stateless_session_resumption = True
    context.disable_stateful_session_resumption = True
    return base_pb2.TransportSocket(name=socket.name, typed_config=typed(context))


def network_filters(section: Authorization | None, mesh: str, protocol: str) -> list[lc.Filter]:
    """The RBAC filters in front of a TCP listener's `tcp_proxy`; none for HTTP listeners or without a section."""
    if section is None or protocol != "tcp":
        return []
    return [
        lc.Filter(name=NETWORK_FILTER, typed_config=typed(network_rbac_pb2.RBAC(
            rules=rules, stat_prefix=f"{STAT_PREFIX}{action.lower()}")))
        for action, rules in _rule_sets(section, mesh, http=False)
    ]


def _rule_sets(section: Authorization, mesh: str, *, http: bool) -> list[tuple[str, rbac_pb2.RBAC]]:
    """(action, RBAC) for the DENY rules, then for the ALLOW rules; an empty set is left out."""
    out = []
    for action, rules in (("DENY", section.denies), ("ALLOW", section.allows)):
        if not rules:
            continue
        policies = {}
        for i, rule in enumerate(section.rules):
            if rule.action != action:
                continue
            policy = _policy(rule, section.trust_domain, mesh, http=http)
            if policy is not None:
                policies[rule.name or f"rule-{i}"] = policy
        out.append((action, rbac_pb2.RBAC(action=_ACTIONS[action], policies=policies)))
    return out


def _policy(rule: Rule, trust_domain: str, mesh: str, *, http: bool) -> rbac_pb2.Policy | None:
    """One rule as an RBAC policy.  On TCP an ALLOW rule with `to` allows nothing (None) and a DENY rule
    with `to` denies its callers outright."""
    if rule.to is not None and not http and rule.action == "ALLOW":
        return None
    permission = _operation(rule.to) if rule.to is not None and http else rbac_pb2.Permission(any=True)
    callers = [_caller(c, trust_domain, mesh) for c in rule.from_] if rule.from_ else [rbac_pb2.Principal(any=True)]
    return rbac_pb2.Policy(permissions=[permission], principals=callers)


def _operation(to: Operation) -> rbac_pb2.Permission:
    """Any of the paths and any of the methods."""
    parts = []
    if to.paths:
        parts.append(_any_of([rbac_pb2.Permission(url_path=path_pb2.PathMatcher(path=_path(p))) for p in to.paths]))
    if to.methods:
        parts.append(_any_of([
            rbac_pb2.Permission(header=rc.HeaderMatcher(name=":method", string_match=string_pb2.StringMatcher(exact=m)))
            for m in to.methods
        ]))
    if len(parts) == 1:
        return parts[0]
    return rbac_pb2.Permission(and_rules=rbac_pb2.Permission.Set(rules=parts))


def _any_of(permissions: list[rbac_pb2.Permission]) -> rbac_pb2.Permission:
    if len(permissions) == 1:
        return permissions[0]
    return rbac_pb2.Permission(or_rules=rbac_pb2.Permission.Set(rules=permissions))


def _path(match: PathMatch) -> string_pb2.StringMatcher:
    if match.exact is not None:
        return string_pb2.StringMatcher(exact=match.exact)
    return string_pb2.StringMatcher(prefix=match.prefix)


def _caller(caller: Caller, trust_domain: str, mesh: str) -> rbac_pb2.Principal:
    spiffe = caller.spiffe_id(trust_domain, mesh)
    if spiffe is not None:
        return _san("URI", string_pb2.StringMatcher(exact=spiffe))
    san = caller.subject_alternative_name
    assert san is not None  # the model requires exactly one kind of caller
    matcher = _san_text(san)
    if san.type != "ANY":
        return _san(san.type, matcher)
    ids = [_san("DNS", matcher), _san("URI", matcher)]
    return rbac_pb2.Principal(or_ids=rbac_pb2.Principal.Set(ids=ids))


def _san_text(san: SanMatch) -> string_pb2.StringMatcher:
    if san.exact is not None:
        return string_pb2.StringMatcher(exact=san.exact)
    return string_pb2.StringMatcher(prefix=san.prefix)


def _san(kind: str, matcher: string_pb2.StringMatcher) -> rbac_pb2.Principal:
    """A client certificate the listener validated, with a `kind` SAN that `matcher` takes."""
    config = mtls_pb2.Config(san_matcher=common_pb2.SubjectAltNameMatcher(san_type=_SAN_TYPES[kind], matcher=matcher))
    custom = extension_pb2.TypedExtensionConfig(name=MTLS_PRINCIPAL, typed_config=typed(config))
    return rbac_pb2.Principal(custom=custom)
