"""Envoy side of the `headers` section: header mutations on a route, or on a route configuration
(a node's ingress: every request its listener serves)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3.route_pb2 import RouteConfiguration

from meshplane.model.policy.headers import Header, HeaderOperations, HeaderRules

Action: TypeAlias = base_pb2.HeaderValueOption.HeaderAppendAction.ValueType
_APPEND: Action = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
_OVERWRITE: Action = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def literal(value: str) -> str:
    """Envoy reads `%...%` in a header value as a formatter command; a policy value is plain text."""
    return value.replace("%", "%%")


def _options(headers: Iterable[Header], action: Action) -> list[base_pb2.HeaderValueOption]:
    values = [base_pb2.HeaderValue(key=h.name, value=literal(h.value)) for h in headers]
    return [base_pb2.HeaderValueOption(header=value, append_action=action) for value in values]


def to_add(ops: HeaderOperations | None) -> list[base_pb2.HeaderValueOption]:
    """Overwrites first, then appends: the model refuses a name in both, so order only keeps output stable."""
    if ops is None:
        return []
    return _options(ops.overwritten, _OVERWRITE) + _options(ops.added, _APPEND)


def to_remove(ops: HeaderOperations | None) -> list[str]:
    return [] if ops is None else list(ops.removed)


def apply(target: rc.Route | rc.VirtualHost | RouteConfiguration, rules: HeaderRules | None) -> None:
    """Add `rules` to a route's (or virtual host's, or route configuration's) own mutations.

    Envoy removes before it adds, and applies a route's mutations before its route configuration's.
    """
    if rules is None:
        return
    target.request_headers_to_add.extend(to_add(rules.request))
    target.request_headers_to_remove.extend(to_remove(rules.request))
    target.response_headers_to_add.extend(to_add(rules.response))
    target.response_headers_to_remove.extend(to_remove(rules.response))
