"""Make before break: the order in which one stream's changes reach Envoy.

A route change that moves traffic to a new cluster arrives as CDS (new cluster in, old
one out), EDS, LDS, then RDS.  Envoy applies each response as it comes, so two gaps
open where requests fail with 503 (no cluster):
- the new cluster is still warming (its endpoints not yet asked for, let alone
  received) when the routes that name it arrive;
- the old cluster is gone while the routes still send to it.
The xDS protocol's answer ("eventual consistency considerations") is the rule this
module holds: listeners and routes wait until every secret, cluster and endpoint
response is acknowledged (`Gate`), and the clusters (and, for Delta, endpoints)
a version drops leave only after all of it is in (`settled`).  A cluster redefined
while its endpoints stay the same is warmed anew, so its endpoints are sent again
right behind it (`redefined`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.snapshot.types import XdsType

log = logging.getLogger(__name__)

DRAINING = "+draining"  # suffix of the SotW CDS version that still carries stale clusters
GATED = (XdsType.LISTENERS, XdsType.ROUTES)  # in this order, once the gate opens
_GATING = (XdsType.SECRETS, XdsType.CLUSTERS, XdsType.ENDPOINTS)
GATE_PATIENCE_SECONDS = 5.0


class _Answered(Protocol):
    awaiting: bool
    deferred: bool


State = TypeVar("State", bound=_Answered)


class Gate:
    """Listeners and routes wait here while a secret, cluster or endpoint response is unanswered:
    what they name is then in place (a cluster warms when its endpoints arrive).

    An Envoy that never answers (one that ignores a response for a type it stopped watching)
    must not hold its routes back for ever: after `patience` seconds the gate opens anyway.
    """

    def __init__(self, patience: float = GATE_PATIENCE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._patience = patience
        self._clock = clock
        self._since: float | None = None  # when the gate closed on a waiting response
        self._gave_up = False  # open until nothing is waiting any more

    def open(self, states: Mapping[XdsType, _Answered]) -> bool:
        if not any(states[kind].awaiting for kind in _GATING if kind in states):
            self._since, self._gave_up = None, False
            return True
        if self._gave_up:
            return True
        now = self._clock()
        if self._since is None:
            self._since = now
        if now - self._since < self._patience:
            return False
        log.warning("no ACK within %.1f s; sending listeners and routes anyway", self._patience)
        self._gave_up = True
        return True

    def wake_in(self) -> float | None:
        """Seconds until a closed gate gives up waiting (None: not waiting)."""
        if self._since is None or self._gave_up:
            return None
        return max(0.0, self._since + self._patience - self._clock())


def settled(
    view: PreparedSnapshot,
    states: Mapping[XdsType, State],
    caught_up: Callable[[XdsType, State], bool] = lambda _kind, _state: True,
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


def redefined(held: Mapping[str, bytes], current: Mapping[str, bytes]) -> list[str]:
    """The clusters of `held` that `current` defines differently: Envoy warms each anew, and an EDS
    cluster stays warming until its endpoints arrive, even when they did not change."""
    return [name for name, body in current.items() if name in held and held[name] != body]
