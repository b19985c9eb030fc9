"""The bar a caller's traffic must clear to count as kept in its zone, shared by the demo and the traffic test.

With the `zoneAware` policy, and the caller's zone holding at least its share of the callee's
healthy instances, Envoy sends every request to that zone (`lb_zone_routing_all_directly`), so a
correct mesh keeps 100 %.  The bar is LOCAL_PERCENT, rounded up: without the policy each request
lands in the caller's zone (one of two, equally served) with probability 1/2, and clearing the bar
by chance has probability sum_{k >= bar} C(n, k) / 2^n: 2.0e-4 for n = 20 (bar 18), 9.3e-8 for
n = 40 (bar 36).  So a few dozen requests tell the two apart.
"""

from __future__ import annotations

from collections.abc import Mapping

LOCAL_PERCENT = 90


def local_at_least(requests: int) -> int:
    """Requests of `requests` that must stay in the caller's zone: LOCAL_PERCENT of them, rounded up."""
    return -(-requests * LOCAL_PERCENT // 100)


def kept_local(answered_from: Mapping[str, int], zone: str) -> bool:
    """Whether `zone` answered at least LOCAL_PERCENT of the requests counted by zone in `answered_from`."""
    return answered_from.get(zone, 0) >= local_at_least(sum(answered_from.values()))
