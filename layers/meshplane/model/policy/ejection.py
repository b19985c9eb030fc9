"""The `outlierDetection` policy section: Envoy's statistical ejection beyond App Mesh's fields.

App Mesh ejects a host after `maxServerErrors` consecutive 5xx.  A host that fails a
fraction of its requests, or is much worse than its peers, is never ejected that way.  This
section adds Envoy's success-rate and failure-percentage algorithms to the outlier detection
of every caller's cluster for the target node, merged onto the App Mesh listener's own
`outlierDetection` (the section's timing fields win where both set one).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from meshplane.model.base import AppMeshModel

TARGETS: frozenset[str] = frozenset({"mesh", "virtualNode"})

Percent = Annotated[int, Field(ge=0, le=100)]
Count = Annotated[int, Field(ge=1, le=2**32 - 1)]


class _Section(AppMeshModel):
    model_config = ConfigDict(frozen=True)


class PolicyDuration(_Section):
    """A duration in App Mesh's own shape, both members required."""

    value: Annotated[int, Field(ge=1, le=86_400_000)]
    unit: Literal["s", "ms"]

    @property
    def millis(self) -> int:
        return self.value * 1000 if self.unit == "s" else self.value


class SuccessRate(_Section):
    """Eject a host whose success rate is `stdevFactor` standard deviations below its peers' mean."""

    minimum_hosts: Count | None = Field(default=None, alias="minimumHosts")
    request_volume: Count | None = Field(default=None, alias="requestVolume")
    # The multiple of the standard deviation, e.g. 1.9 (Envoy's default); Envoy takes it in thousandths.
    stdev_factor: Annotated[float, Field(gt=0, le=100)] | None = Field(default=None, alias="stdevFactor")
    enforcing_percent: Percent | None = Field(default=None, alias="enforcingPercent")


class FailurePercentage(_Section):
    """Eject a host whose failed share of requests is at least `threshold` percent."""

    threshold: Percent
    minimum_hosts: Count | None = Field(default=None, alias="minimumHosts")
    request_volume: Count | None = Field(default=None, alias="requestVolume")
    enforcing_percent: Percent | None = Field(default=None, alias="enforcingPercent")


class OutlierDetectionExtra(_Section):
    """Success-rate and/or failure-percentage ejection, with optional timing overrides."""

    success_rate: SuccessRate | None = Field(default=None, alias="successRate")
    failure_percentage: FailurePercentage | None = Field(default=None, alias="failurePercentage")
    interval: PolicyDuration | None = None
    base_ejection_duration: PolicyDuration | None = Field(default=None, alias="baseEjectionDuration")
    max_ejection_percent: Percent | None = Field(default=None, alias="maxEjectionPercent")

    @model_validator(mode="after")
    def _an_algorithm(self) -> OutlierDetectionExtra:
        given = [rule for rule in (self.success_rate, self.failure_percentage) if rule is not None]
        if not given:
            raise ValueError("set successRate, failurePercentage or both")
        if all(rule.enforcing_percent == 0 for rule in given):
            raise ValueError("every algorithm given has enforcingPercent 0, so no host would ever be ejected")
        return self
