"""The `rateLimit` policy section: a local token bucket at a virtual node's or gateway's ingress.

Local, not global: each Envoy instance enforces the budget on its own, so a
node with three instances admits up to three budgets in total.  That needs no
rate-limit service, and the budget scales with the instances that serve it.
Requests over the budget get 429 with the draft-03 `x-ratelimit-*` headers
(which tell a well-behaved client when to come back); App Mesh retry policies
do not retry 429, so callers' Envoys do not multiply the load.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from meshplane.model.base import AppMeshModel

TARGETS: frozenset[str] = frozenset({"virtualNode", "virtualGateway"})
"""Ingress of a node's HTTP-family listeners or a gateway's listeners."""

UNIT_SECONDS: dict[str, int] = {"SECOND": 1, "MINUTE": 60}

MAX_TOKENS = 2**32 - 1
"""Envoy's token bucket counts in uint32."""


class RateLimit(AppMeshModel):
    """Admit `requestsPerUnit` per `unit`; unused budget carries over up to `burst` extra requests."""

    model_config = ConfigDict(frozen=True)

    requests_per_unit: Annotated[int, Field(ge=1, le=MAX_TOKENS, alias="requestsPerUnit")]
    unit: Literal["SECOND", "MINUTE"]
    burst: Annotated[int, Field(ge=0, le=MAX_TOKENS)] = 0

    @field_validator("burst")
    @classmethod
    def _bucket_fits(cls, burst: int, info: ValidationInfo) -> int:
        if info.data.get("requests_per_unit", 0) + burst > MAX_TOKENS:
            raise ValueError(f"requestsPerUnit + burst must be at most {MAX_TOKENS}")
        return burst

    @property
    def bucket_size(self) -> int:
        """The most requests admitted at once: one unit's budget plus the carried-over burst."""
        return self.requests_per_unit + self.burst

    @property
    def fill_seconds(self) -> int:
        """How often the bucket is refilled with `requestsPerUnit` tokens."""
        return UNIT_SECONDS[self.unit]
