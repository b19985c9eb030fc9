"""Route and gateway-route matches: prefix, path, headers, method, query, scheme, gRPC."""

from __future__ import annotations

from typing import TypeAlias

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import range_pb2

from meshplane.model import shapes

# A string, like every annotation here, so importing the module loads no shape module.
HeaderLike: TypeAlias = (
    "shapes.HttpRouteHeader | shapes.HttpGatewayRouteHeader"
    " | shapes.GrpcRouteMetadata | shapes.GrpcGatewayRouteMetadata"
)


def string_matcher(kind: str, value: str) -> string_pb2.StringMatcher:
    if kind == "regex":
        return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=value))
    return string_pb2.StringMatcher(**{kind: value})


def header(spec: HeaderLike) -> rc.HeaderMatcher:
    matcher = rc.HeaderMatcher(name=spec.name, invert_match=bool(spec.invert))
    if spec.match is None:
        matcher.present_match = True
        return matcher
    kind, value = spec.match.member
    if kind == "range":
        matcher.range_match.CopyFrom(range_pb2.Int64Range(start=value.start, end=value.end))
    else:
        matcher.string_match.CopyFrom(string_matcher(kind, value))
    return matcher


def _exact_header(name: str, value: str) -> rc.HeaderMatcher:
    return rc.HeaderMatcher(name=name, string_match=string_pb2.StringMatcher(exact=value))


def _query(spec: shapes.HttpQueryParameter) -> rc.QueryParameterMatcher:
    if spec.match is None or spec.match.exact is None:
        return rc.QueryParameterMatcher(name=spec.name, present_match=True)
    return rc.QueryParameterMatcher(name=spec.name, string_match=string_pb2.StringMatcher(exact=spec.match.exact))


def http_match(match: shapes.HttpRouteMatch | shapes.HttpGatewayRouteMatch | None) -> rc.RouteMatch:
    out = rc.RouteMatch()
    if match is None:
        out.prefix = "/"
        return out
    if match.path is not None and match.path.exact is not None:
        out.path = match.path.exact
    elif match.path is not None and match.path.regex is not None:
        out.safe_regex.regex = match.path.regex
    else:
        out.prefix = match.prefix or "/"
    out.headers.extend(header(h) for h in match.headers or ())
    if match.method is not None:
        out.headers.append(_exact_header(":method", match.method))
    scheme = getattr(match, "scheme", None)  # a route's match has a scheme, a gateway route's has none
    if scheme is not None:
        out.headers.append(_exact_header(":scheme", scheme))
    out.query_parameters.extend(_query(q) for q in match.query_parameters or ())
    return out


def grpc_match(match: shapes.GrpcRouteMatch | shapes.GrpcGatewayRouteMatch | None) -> rc.RouteMatch:
    """gRPC requests are POSTs to `/<service>/<method>`; metadata are request headers."""
    out = rc.RouteMatch(grpc=rc.RouteMatch.GrpcRouteMatchOptions())
    service = match.service_name if match is not None else None
    method = getattr(match, "method_name", None)
    if service and method:
        out.path = f"/{service}/{method}"
    elif service:
        out.prefix = f"/{service}/"
    else:
        out.prefix = "/"
    if match is not None:
        out.headers.extend(header(m) for m in match.metadata or ())
    return out
