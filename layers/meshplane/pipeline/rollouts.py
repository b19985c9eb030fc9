"""The scheduled rollout controller: each tick, every active rollout is measured, decided and applied.

One tick of one rollout, in an order that survives a crash at any point:
1. read the rollout (its version) and put its stored weights on the route if the route lost them
   (a controller that died after storing a decision but before applying it is repaired here);
2. a finished rollout whose final weights are on the route releases the route, and is done;
3. measure the canary since the step's weights were stored (CloudWatch), and since its window
   opened once that window is due; while it is not open, read whether the callers' Envoys run the
   step's weights (`pipeline.rollout_callers`); let `model.rollout.controller` decide;
4. store the decision conditioned on the version read (a concurrent operator command or a second
   controller wins, and this tick drops its decision), then put its weights on the route through
   `UpdateRoute`, then release the route if the rollout ended.
No decision is taken without a reading: a tick whose metrics cannot be read holds the weights.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from meshplane.api import rollout_route
from meshplane.model.rollout import controller
from meshplane.model.rollout.state import CallerSync, Measurement, RolloutData
from meshplane.pipeline.rollout_callers import CallerWatch
from meshplane.pipeline.rollout_metrics import CloudWatchReader
from meshplane.store.errors import Conflict
from meshplane.store.resources import ResourceStore
from meshplane.store.rollouts import RolloutStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one tick did to one rollout: `decision` of the history entry it added, if any."""

    mesh: str
    name: str
    phase: str
    interval: float = 0.0  # the rollout's step interval: how soon it wants another look
    decision: str | None = None
    repaired: bool = False  # the route had lost the stored weights and got them back
    failed: str | None = None  # why this rollout's tick failed (the next tick tries again)


class RolloutController:
    def __init__(self, store: ResourceStore, reader: CloudWatchReader, clock: Callable[[], float] = time.time) -> None:
        self.resources, self.rollouts, self.reader, self.clock = store, RolloutStore(store), reader, clock
        self.callers = CallerWatch(store, clock)

    def tick(self) -> list[Outcome]:
        """One look at every active rollout; one rollout's failure never stops the others."""
        outcomes = []
        for mesh, name in self.rollouts.active():
            try:
                outcomes.append(self.tick_one(mesh, name))
            except Exception as exc:  # AWS errors, throttling, a rollout deleted meanwhile: the next tick retries
                log.exception("rollout %s/%s: tick failed", mesh, name)
                outcomes.append(Outcome(mesh, name, "UNKNOWN", failed=f"{type(exc).__name__}: {exc}"))
        return outcomes

    def tick_one(self, mesh: str, name: str) -> Outcome:
        data = self.rollouts.describe(mesh, name)
        progress, interval = data.status, float(data.spec.step_interval_seconds)
        repaired = progress.weights is not None and rollout_route.apply(self.resources, mesh, data.spec,
                                                                         progress.weights)
        if controller.is_final(progress) or progress.phase == "PENDING":
            self.rollouts.release(data)
            return Outcome(mesh, name, progress.phase, repaired=repaired)  # no interval: nothing left to watch
        now = self.clock()
        start = controller.window_start(progress)
        measured = self.measure(data, start, now, whole_seconds=False) if start is not None else None
        window = self.window(data, measured, now)
        callers = self.caller_sync(data, start) if start is not None and progress.window_started_at is None else None
        decided = controller.tick(data.spec, progress, measured, now, callers=callers, window=window)
        if decided is progress:
            return Outcome(mesh, name, progress.phase, interval, repaired=repaired)
        try:
            saved = self.rollouts.save(data, decided)
        except Conflict:
            return Outcome(mesh, name, progress.phase, interval, repaired=repaired)  # someone else decided first
        if decided.history[-1:] == progress.history[-1:]:  # the step's window opened: no decision, same weights
            log.info("rollout %s/%s: step %d's window opened", mesh, name, decided.step)
            return Outcome(mesh, name, decided.phase, interval, repaired=repaired)
        decision = decided.history[-1]
        log.info("rollout %s/%s: %s: %s", mesh, name, decision.decision, decision.reason)
        if decided.weights is not None:
            rollout_route.apply(self.resources, mesh, data.spec, decided.weights)
        if controller.is_final(decided):
            self.rollouts.release(saved)
        return Outcome(mesh, name, decided.phase, interval, decision.decision, repaired)

    def window(self, data: RolloutData, measured: Measurement | None, now: float) -> Measurement | None:
        """The canary's traffic since the step's window opened (none from before it), once the window is due."""
        opened = data.status.window_started_at
        if measured is None or opened is None or not controller.window_due(data.spec, data.status, now):
            return None
        cluster = rollout_route.target_cluster(self.resources, data.mesh_name, data.spec.canary)
        traffic = self.reader.measure(cluster, [], opened, now)
        return traffic.model_copy(update={"alarms": measured.alarms})  # the alarms as this tick read them

    def caller_sync(self, data: RolloutData, since: float) -> CallerSync | None:
        """The callers' sync; None when it cannot be read (the step stays watched, its window waits at most an
        interval)."""
        try:
            return self.callers.sync(data.mesh_name, data.spec, since)
        except Exception:
            log.exception("rollout %s/%s: reading the callers' sync failed", data.mesh_name, data.rollout_name)
            return None

    def measure(self, data: RolloutData, start: float, now: float, whole_seconds: bool = True) -> Measurement:
        """The canary's traffic from `start`: the step's watch reads from the second its weights were stored in
        (a failing canary's first errors count), its window only whole seconds after it opened."""
        cluster = rollout_route.target_cluster(self.resources, data.mesh_name, data.spec.canary)
        return self.reader.measure(cluster, list(data.spec.success_criteria.alarm_names), start, now,
                                   whole_seconds=whole_seconds)
