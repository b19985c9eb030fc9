"""App Mesh's route ordering: explicit priority first, then the most specific match."""

from __future__ import annotations

from meshplane.graph.view import RouteView


def route_sort_key(route: RouteView) -> tuple[int, int, str]:
    """Priority ascending; unprioritised routes after, longest/most exact match first.

    App Mesh documents priority as the order of evaluation; for routes without one
    the longest prefix wins, and an exact path is more specific than any prefix.
    """
    return (route.priority, -_specificity(route), route.name)


def _specificity(route: RouteView) -> int:
    match = getattr(route.spec, "match", None)
    if match is None:
        return 0
    path = getattr(match, "path", None)
    if path is not None:
        return 100_000 if path.exact is not None else 50_000
    prefix = getattr(match, "prefix", None)
    extra = len(getattr(match, "headers", None) or ()) + len(getattr(match, "query_parameters", None) or ())
    if prefix is not None:
        return len(prefix) * 10 + extra
    if getattr(match, "method_name", None) is not None:
        return 20_000
    if getattr(match, "service_name", None) is not None:
        return 10_000
    return extra
