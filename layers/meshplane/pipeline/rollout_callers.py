"""Whether a rollout's callers run the weights its route carries: the published pointers and the Envoys' ACKs.

A step's window opens once every proxy that calls the route (the dependency index: proxies whose last
snapshot was built from the route) has
1. a pointer published since the step's weights were stored (the pipeline rebuilt it from the new route), and
2. every live Envoy of it reporting that very snapshot version as applied (the proxy status the ADS server
   or file agent writes on ACK, `store.proxy_status`).
Both are read with GetItem and Query on the state table, the same in AWS and locally.

Limits, each pushing toward waiting (the controller's bounded wait then opens the window, recorded):
`publishedAt` has one-second resolution, so a publish in the same second just before the step counts as
after it; an Envoy's status is written at most every few seconds (`delivery.status.coalescer`), so the
confirmation trails the ACK; a caller with no Envoy reporting is not confirmed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from meshplane.model.ids import ProxyId
from meshplane.model.rollout.spec import RolloutSpec
from meshplane.model.rollout.state import CallerSync
from meshplane.store.index import DependencyIndex
from meshplane.store.pointers import PointerStore
from meshplane.store.proxy_status import ProxyStatusStore
from meshplane.store.resources import ResourceStore

MAX_STEPS_KEPT = 256  # steps whose callers are remembered: every active rollout's current one


class CallerWatch:
    """Reads the callers' sync for one step; the callers are looked up once per step."""

    def __init__(self, store: ResourceStore, clock: Callable[[], float]) -> None:
        self.store, self.clock = store, clock
        self.statuses = ProxyStatusStore(store.table, store.client, clock=clock)
        self.pointers = PointerStore(store.table, store.client)
        self._callers: dict[tuple[str, str, float], list[ProxyId]] = {}

    def sync(self, mesh: str, spec: RolloutSpec, since: float) -> CallerSync:
        """Whether every caller of the route has, since `since`, a new snapshot that all its live Envoys applied."""
        callers = self.callers(mesh, spec, since)
        if not callers:
            return CallerSync(confirmed=True, detail="no proxy calls the route")
        behind = [why for proxy in callers if (why := self._behind(proxy, since)) is not None]
        if behind:
            return CallerSync(confirmed=False, detail="; ".join(behind))
        return CallerSync(confirmed=True, detail=f"{len(callers)} caller(s) applied the step's snapshot")

    def callers(self, mesh: str, spec: RolloutSpec, since: float) -> list[ProxyId]:
        """The proxies calling the route, looked up once per step (`since`: when the step began)."""
        key = (mesh, spec.route.key(mesh).path, since)
        if key not in self._callers:
            if len(self._callers) >= MAX_STEPS_KEPT:
                self._callers.pop(next(iter(self._callers)))  # the oldest step's: long done
            self._callers[key] = self._lookup(mesh, key[1])
        return self._callers[key]

    def _lookup(self, mesh: str, route_path: str) -> list[ProxyId]:
        entries = DependencyIndex(self.store.table, self.store.client).entries(mesh)
        return [ProxyId.parse(path) for path, entry in sorted(entries.items()) if route_path in entry.deps]

    def _behind(self, proxy: ProxyId, since: float) -> str | None:
        """Why `proxy` is not yet running a snapshot published since `since`; None when it is."""
        published = self.pointers.get(proxy.path)
        if published is None or published.published_at < math.floor(since):
            return f"{proxy.name}: not republished since the step began"
        live = [e for e in self.statuses.envoys([proxy]) if e.live(self.clock())]
        if not live:
            return f"{proxy.name}: no Envoy reporting"
        late = [e for e in live if e.applied != published.version]
        return f"{proxy.name}: {len(late)} of {len(live)} Envoys not on it yet" if late else None

