"""A rollout's progress as stored and described: its phase, its step, the weights it holds and its history.

Times are epoch seconds.  `weights` is what the route must carry while the rollout owns it; the
controller writes the progress first (conditioned on the rollout's version) and the route after,
so a controller that dies between the two leaves a progress whose weights the next tick applies.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from meshplane.model.base import AppMeshModel
from meshplane.model.names import AppMeshName
from meshplane.model.rollout.spec import RolloutSpec
from meshplane.model.shapes.common import ResourceMetadata

Name = Annotated[str, Field(min_length=1, max_length=255), AppMeshName]
Phase = Literal["PENDING", "PROGRESSING", "PAUSED", "PROMOTED", "ROLLED_BACK", "ABORTED"]
ACTIVE: frozenset[str] = frozenset({"PROGRESSING", "PAUSED"})
"""Phases in which the rollout owns the route's weights (and the controller watches it)."""
FINAL: frozenset[str] = frozenset({"PROMOTED", "ROLLED_BACK", "ABORTED"})
Decision = Literal["STARTED", "ADVANCED", "FAILED_CHECK", "ROLLED_BACK", "PROMOTED", "PAUSED", "RESUMED",
                   "ABORTED", "WEIGHTS_RESTORED", "WINDOW_UNCONFIRMED"]
MAX_HISTORY = 100


class _Model(AppMeshModel):
    model_config = ConfigDict(frozen=True)


class Weights(_Model):
    """The weights of the stable and the canary target on the route."""

    stable: Annotated[int, Field(ge=0, le=100)]
    canary: Annotated[int, Field(ge=0, le=100)]

    @classmethod
    def at(cls, percent: int) -> Weights:
        return cls(stable=100 - percent, canary=percent)


STABLE = Weights.at(0)
CANARY = Weights.at(100)


class Measurement(_Model):
    """What the canary's traffic showed over one window; `p99Millis` is None when no latency was measured.

    `requests` and `errors` count upstream attempts, not what callers finally got: behind a retry policy a
    canary failing 40 % of its attempts hands its callers few errors, yet it is failing.  `retried` is how
    many of the attempts Envoy retried.
    """

    window_start: float = Field(alias="windowStart")
    window_end: float = Field(alias="windowEnd")
    requests: Annotated[int, Field(ge=0)]
    errors: Annotated[int, Field(ge=0)]
    retried: Annotated[int, Field(ge=0)] = 0
    p99_millis: float | None = Field(default=None, alias="p99Millis")
    alarms: dict[str, str] = Field(default_factory=dict)  # alarm name -> state value (OK, ALARM, ...; MISSING)

    @property
    def error_rate_percent(self) -> float | None:
        return 100.0 * self.errors / self.requests if self.requests else None


class CallerSync(_Model):
    """Whether every caller's Envoy runs the weights the route carries now, and what was seen (for the record)."""

    confirmed: bool
    detail: str


class HistoryEntry(_Model):
    """One decision: when, at which step, the weights it left on the route, what was measured and why."""

    at: float
    step: int  # index into spec.steps; -1 before the first
    weights: Weights | None
    decision: Decision
    reason: str
    measured: Measurement | None = None


class RolloutProgress(_Model):
    phase: Phase = "PENDING"
    step: int = -1
    step_started_at: float | None = Field(default=None, alias="stepStartedAt")
    # when the step's measured window opened: once the callers' Envoys ran its weights (or the wait for them ended)
    window_started_at: float | None = Field(default=None, alias="windowStartedAt")
    failed_checks: int = Field(default=0, alias="failedChecks")
    weights: Weights | None = None
    reason: str | None = None
    history: Annotated[list[HistoryEntry], Field(max_length=MAX_HISTORY)] = Field(default_factory=list)

    def recorded(self, entry: HistoryEntry, **changes: object) -> RolloutProgress:
        """This progress with `changes` applied and `entry` appended to the history (the oldest dropped)."""
        history = [*self.history, entry][-MAX_HISTORY:]
        return self.model_copy(update={**changes, "history": history, "weights": entry.weights,
                                       "reason": entry.reason})


class RolloutData(_Model):
    """A rollout as `DescribeRollout` returns it."""

    mesh_name: Name = Field(alias="meshName")
    rollout_name: Name = Field(alias="rolloutName")
    spec: RolloutSpec
    metadata: ResourceMetadata
    status: RolloutProgress
