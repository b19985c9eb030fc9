"""The rollout controller's Lambda entry point: one scheduled invocation keeps watching while rollouts run.

A schedule starts the function once a period (`rate(1 minute)` in the template; the local runtime
plays it). An invocation with no active rollout returns at once; otherwise it ticks until its run
time (`MESHPLANE_ROLLOUT_RUN_SECONDS`, the schedule's period less a margin) or the Lambda deadline
is near, so no process runs between rollouts and steps shorter than a minute are still watched.
Ticks come every `MESHPLANE_ROLLOUT_TICK_SECONDS` at most, sooner for a rollout whose step interval
is short (a quarter of it, at least every `MIN_TICK_SECONDS`), so a failed check is seen well
within one step interval.  The function's reserved concurrency of 1 keeps invocations from
overlapping; were two to run anyway, the versioned writes let only one decision per version stand.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from meshplane import envvars
from meshplane.pipeline.coldstart import first_call_without_gc

if TYPE_CHECKING:
    from meshplane.pipeline.rollouts import Outcome, RolloutController
    from meshplane.pipeline.telemetry import Telemetry

DEFAULT_TICK_SECONDS = 5.0
DEFAULT_RUN_SECONDS = 50.0
MIN_TICK_SECONDS = 0.5
DEADLINE_MARGIN_SECONDS = 5.0  # left for the last tick's writes before Lambda's timeout


@dataclass(frozen=True)
class Pacing:
    tick_seconds: float = DEFAULT_TICK_SECONDS
    run_seconds: float = DEFAULT_RUN_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Pacing:
        env = os.environ if env is None else env
        return cls(float(env.get(envvars.ROLLOUT_TICK_SECONDS) or DEFAULT_TICK_SECONDS),
                   float(env.get(envvars.ROLLOUT_RUN_SECONDS) or DEFAULT_RUN_SECONDS))

    def pause(self, outcomes: list[Outcome]) -> float:
        """Seconds until the next tick: sooner for short step intervals."""
        wanted = [o.interval / 4 for o in outcomes if o.interval > 0]
        return max(MIN_TICK_SECONDS, min([self.tick_seconds, *wanted]))


@dataclass
class Summary:
    ticks: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    repairs: int = 0

    def add(self, outcomes: list[Outcome]) -> None:
        self.ticks += 1
        for o in outcomes:
            if o.decision is not None:
                self.decisions[o.decision] = self.decisions.get(o.decision, 0) + 1
            self.failures += o.failed is not None
            self.repairs += o.repaired


def watch(controller: RolloutController, pacing: Pacing, remaining: Callable[[], float],
          sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> Summary:
    """Tick until no rollout is active or the run time is spent; `remaining` is Lambda's seconds left."""
    summary, deadline = Summary(), clock() + pacing.run_seconds
    while True:
        outcomes = controller.tick()
        summary.add(outcomes)
        watching = [o for o in outcomes if o.interval > 0 or o.failed is not None]
        if not watching:
            return summary
        pause = pacing.pause(outcomes)
        if clock() + pause >= deadline or remaining() - pause < DEADLINE_MARGIN_SECONDS:
            return summary
        sleep(pause)


@lru_cache(maxsize=1)
def _built(owner: tuple[str, str] | None) -> tuple[RolloutController, Telemetry]:
    """The controller and telemetry of this container.  Both clients come from one session of the pipeline's
    (`wiring.aws_session`): each model is found in its own folder instead of after listing every service
    botocore knows, and the endpoint data both need is read once."""
    from meshplane.config import Settings
    from meshplane.pipeline.rollout_metrics import DEFAULT_NAMESPACE, CloudWatchReader
    from meshplane.pipeline.rollouts import RolloutController
    from meshplane.pipeline.telemetry import Telemetry
    from meshplane.pipeline.wiring import aws_session
    from meshplane.store.resources import ResourceStore

    settings = Settings.from_env(owner=owner)
    session = aws_session(settings.region)
    store = ResourceStore(settings.table, session.client("dynamodb"), region=settings.region,
                          account=settings.account, partition=settings.partition, limits=settings.limits)
    namespace = os.environ.get(envvars.ROLLOUT_METRICS_NAMESPACE) or DEFAULT_NAMESPACE
    reader = CloudWatchReader(session.client("cloudwatch"), namespace)
    return RolloutController(store, reader), Telemetry.from_env()


@first_call_without_gc
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from meshplane.config import function_owner
    from meshplane.pipeline.deadline import seconds_left

    controller, telemetry = _built(function_owner(context))

    @telemetry.logger.inject_lambda_context(clear_state=True)
    @telemetry.metrics.log_metrics
    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        summary = watch(controller, Pacing.from_env(), seconds_left(context))
        for decision, count in summary.decisions.items():
            telemetry.count(f"Rollout{decision.title().replace('_', '')}", count)
        telemetry.count("RolloutTickFailures", summary.failures)
        telemetry.count("RolloutWeightRepairs", summary.repairs)
        return {"ticks": summary.ticks, "decisions": summary.decisions, "failures": summary.failures}

    result: dict[str, Any] = run(event, context)
    return result
