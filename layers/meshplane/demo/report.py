"""Every number the demo measured, as one JSON document (`--report`).

The test reads this file, so its field names are a contract: add fields, do not rename.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class ProcessInfo(BaseModel):
    name: str
    pid: int


class CanaryStep(BaseModel):
    """One weight change and what was measured after it."""

    blue_weight: int
    green_weight: int
    route_version: int
    api_seconds: float = Field(description="duration of the update_route call")
    envoy_seconds: float | None = Field(
        description="from update_route returning to the front Envoy's config dump showing the new weights"
    )
    first_response_seconds: float | None = Field(
        description="from update_route returning to the first response from a color this step turns on or off"
    )
    requests: int
    failed: int
    by_color: dict[str, int]
    by_instance: dict[str, int]
    measured_blue: float
    measured_green: float
    tolerance: float


class KillResult(BaseModel):
    """One green instance killed while traffic flows."""

    instance: str
    killed: list[str]
    window_seconds: float
    requests: int
    client_errors: int
    retry_budget: int = Field(description="client errors tolerated while the host is ejected: the route's maxRetries")
    upstream_retries: int = Field(description="retries the front Envoy made in the window (cluster stats)")
    outlier_ejections: int = Field(description="outlier ejections enforced by the front Envoy in the window")
    served_by: dict[str, int]


class AdsRestart(BaseModel):
    old_pid: int
    new_pid: int | None
    restarted_seconds: float | None = Field(description="from the kill to the ADS port accepting connections again")
    reconnected_seconds: dict[str, float | None] = Field(description="per Envoy: kill to connected_state=1 again")
    window_seconds: float
    requests: int
    failed: int


class AuthorizationCheck(BaseModel):
    """Requests straight to one instance's sidecar as two callers that mTLS alone would both accept."""

    target: str
    allowed_caller: str
    allowed_status: int = Field(description="the caller its authorization policy allows: 200")
    refused_caller: str
    refused_status: int = Field(description="a caller with a valid certificate the policy does not allow: 403")


class PolicyCheck(BaseModel):
    """One policy written through the Policy API (`demo.beyond`) and what real traffic showed of it."""

    section: str
    policy: str
    evidence: str = Field(description="the line the demo prints")
    measured: dict[str, Any] = Field(description="the counts and statuses the line is made of")
    ok: bool


class RolloutResult(BaseModel):
    """One canary rollout the controller drove (`demo.rollouts`): every number measured on that run."""

    name: str
    stable: str
    canary: str
    phase: str
    reason: str
    fault_share: float = 0.0
    decided_requests: int = 0  # canary requests in the window the final decision measured
    decided_error_rate: float | None = None  # their 5xx share, percent
    detect_seconds: float | None = None  # the fault injected → the ROLLED_BACK decision
    rollback_seconds: float | None = None  # the fault injected → the last request on the canary
    history: list[str] = Field(default_factory=list)


class Report(BaseModel):
    ok: bool = False
    error: str | None = None
    mesh: str = ""
    api_url: str = ""
    gateway_url: str = ""
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per setup/teardown phase")
    processes: list[ProcessInfo] = Field(default_factory=list)
    canary: list[CanaryStep] = Field(default_factory=list)
    kill: KillResult | None = None
    ads_restart: AdsRestart | None = None
    authorization: AuthorizationCheck | None = None
    rollouts: list[RolloutResult] = Field(default_factory=list)
    policies: list[PolicyCheck] = Field(default_factory=list)
    total_requests: int = 0
    total_failed: int = 0
    leftover_pids: list[int] = Field(default_factory=list)
    kept_running: bool = False

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2))
