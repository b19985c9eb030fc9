"""The proxy's own policy sections that some of its listeners cannot carry.

`headers`, `rateLimit` and `jwt` act on HTTP requests (Envoy's route configuration and HTTP filters),
so a node's TCP listener passes its traffic without them.  That is named as a problem (the
translator logs it for the operator) rather than refused at write, because listeners can
change after the policy is written.
"""

from __future__ import annotations

from collections.abc import Iterable

from meshplane.graph.view import HTTP_FAMILY, IngressListener
from meshplane.model.policy.applied import Sections

_HTTP_ONLY = (("headers", "headers"), ("rate_limit", "rateLimit"), ("jwt", "jwt"))


def http_only_gaps(sections: Sections, listeners: Iterable[IngressListener]) -> list[str]:
    """One problem per HTTP-only section the proxy has and per listener it cannot act on."""
    given = [wire for attr, wire in _HTTP_ONLY if getattr(sections, attr) is not None]
    if not given:
        return []
    return [
        f"{wire} does not apply to {li.protocol} listener {li.port}: it acts on HTTP requests only"
        for li in listeners
        if li.protocol not in HTTP_FAMILY
        for wire in given
    ]
