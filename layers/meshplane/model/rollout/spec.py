"""A rollout as declared: which route, which two of its targets, the steps and what counts as healthy.

A rollout moves one route's traffic from its stable weighted target to a new one in steps
(5 -> 25 -> 50 -> 100 percent, say), holding each step for `stepIntervalSeconds` and moving on
only when the new target's measured traffic met `successCriteria`.  Only routes carry weighted
targets in App Mesh (a gateway route names one virtual service), so the target is a route.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from meshplane.model.base import AppMeshModel
from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.names import AppMeshName
from meshplane.model.policy.spec import SpecProblem

Name = Annotated[str, Field(min_length=1, max_length=255), AppMeshName]
MIN_STEP_SECONDS = 1
MAX_STEP_SECONDS = 86_400
MAX_STEPS = 20
MAX_ALARMS = 10  # DescribeAlarms takes at most 100 names; a handful keeps one tick one call
MAX_FAILED_CHECKS = 10


class _Model(AppMeshModel):
    model_config = ConfigDict(frozen=True)


class RouteRef(_Model):
    virtual_router_name: Name = Field(alias="virtualRouterName")
    route_name: Name = Field(alias="routeName")

    def key(self, mesh: str) -> ResourceKey:
        return ResourceKey(Kind.ROUTE, mesh, self.route_name, self.virtual_router_name)


class TargetRef(_Model):
    """One weighted target of the route: its virtual node and, when the route names one, its port."""

    virtual_node: Name = Field(alias="virtualNode")
    port: Annotated[int, Field(ge=1, le=65535)] | None = None

    def matches(self, virtual_node: str, port: int | None) -> bool:
        return self.virtual_node == virtual_node and self.port == port


class SuccessCriteria(_Model):
    """What the new target's traffic over a step must show; at least one criterion, and always traffic."""

    max_error_rate_percent: Annotated[float, Field(ge=0, le=100)] | None = Field(
        default=None, alias="maxErrorRatePercent")
    max_p99_millis: Annotated[float, Field(gt=0, le=3_600_000)] | None = Field(default=None, alias="maxP99Millis")
    alarm_names: Annotated[list[Annotated[str, Field(min_length=1, max_length=255)]],
                           Field(max_length=MAX_ALARMS)] = Field(default_factory=list, alias="alarmNames")
    minimum_requests: Annotated[int, Field(ge=1, le=1_000_000)] = Field(default=10, alias="minimumRequests")

    @model_validator(mode="after")
    def _some_criterion(self) -> SuccessCriteria:
        if self.max_error_rate_percent is None and self.max_p99_millis is None and not self.alarm_names:
            raise SpecProblem("", "give at least one of maxErrorRatePercent, maxP99Millis, alarmNames")
        if len(set(self.alarm_names)) != len(self.alarm_names):
            raise SpecProblem("alarmNames", "names an alarm twice")
        return self


class RolloutSpec(_Model):
    """The declared rollout; the controller never changes it.

    After the last step is healthy the canary gets all traffic (promoted), so `steps` may end below 100.
    """

    route: RouteRef
    stable: TargetRef
    canary: TargetRef
    steps: Annotated[list[Annotated[int, Field(ge=1, le=100)]], Field(min_length=1, max_length=MAX_STEPS)]
    step_interval_seconds: Annotated[int, Field(ge=MIN_STEP_SECONDS, le=MAX_STEP_SECONDS)] = Field(
        alias="stepIntervalSeconds")
    success_criteria: SuccessCriteria = Field(alias="successCriteria")
    max_failed_checks: Annotated[int, Field(ge=0, le=MAX_FAILED_CHECKS)] = Field(default=0, alias="maxFailedChecks")

    @model_validator(mode="after")
    def _consistent(self) -> RolloutSpec:
        for i in range(1, len(self.steps)):
            if self.steps[i] <= self.steps[i - 1]:
                raise SpecProblem(f"steps[{i}]", f"must be greater than steps[{i - 1}] ({self.steps[i - 1]})")
        if self.stable == self.canary:
            raise SpecProblem("canary", "must be another target than stable")
        return self
