"""Make before break: the order in which one stream's changes reach Envoy.

A route change that moves traffic to a new cluster arrives as CDS (new cluster in, old
one out), EDS, LDS, then RDS.  Envoy applies each response as it comes, so two gaps
open where requests fail with 503 (no cluster):
- the new cluster is still warming (its endpoints not yet asked for, let alone
  received) when the routes that name it arrive;
- the old cluster is gone while the routes still send to it.
The xDS protocol's answer ("eventual consistency considerations") is the rule this
module holds: listeners and routes wait until every secret, cluster and endpoint
response is acknowledged (`gate_open`), and the clusters (and, for Delta, endpoints)
a version drops leave only after all of it is in (`settled`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.snapshot.types import XdsType

DRAINING = "+draining"  # suffix of the SotW CDS version that still carries stale clusters
GATED = (XdsType.LISTENERS, XdsType.ROUTES)  # in this order, once the gate opens
_GATING = (XdsType.SECRETS, XdsType.CLUSTERS, XdsType.ENDPOINTS)


class _Answered(Protocol):
    awaiting: bool
    deferred: bool


State = TypeVar("State", bound=_Answered)


def gate_open(states: Mapping[XdsType, _Answered]) -> bool:
    """No secret, cluster or endpoint response is waiting for its ACK or NACK: what listeners and
    routes may name is in place (a cluster warms when its endpoints arrive)."""
    return not any(states[kind].awaiting for kind in _GATING if kind in states)


def settled(
    view: PreparedSnapshot, states: Mapping[XdsType, State], caught_up: Callable[[XdsType, State], bool]
) -> bool:
    """Every type the view has resources of is subscribed, answered, not deferred and `caught_up`."""
    for kind, prepared in view.types.items():
        state = states.get(kind)
        if state is None:
            if prepared.packed:
                return False  # Envoy has not asked for it yet (a fresh stream): wait
            continue
        if state.awaiting or state.deferred or not caught_up(kind, state):
            return False
    return True


def stripped(version: str) -> str:
    """The snapshot version a (possibly draining) CDS version names."""
    return version.removesuffix(DRAINING)
