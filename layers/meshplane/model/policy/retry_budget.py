"""The `retryBudget` policy section: a caller's concurrent retries bounded by its active requests.

Why: App Mesh's retry policy counts retries per request, so a failing callee under load is
sent up to `maxRetries` times its traffic.  Envoy's retry budget caps concurrent retries to a
percentage of the requests in flight (never below `minRetryConcurrency`), so retries stop
amplifying an outage; a retry over the budget is not made and counts as
`upstream_rq_retry_overflow`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from meshplane.model.base import AppMeshModel

Concurrency = Annotated[int, Field(ge=0, le=2**32 - 1)]

TARGETS: frozenset[str] = frozenset({"mesh", "virtualNode"})


class RetryBudget(AppMeshModel):
    """Envoy's circuit-breaker retry budget on every caller's cluster for the target node."""

    model_config = ConfigDict(frozen=True)

    # Envoy's defaults (20 %, 3) apply to a member left out.
    budget_percent: Annotated[float, Field(ge=0, le=100)] | None = Field(default=None, alias="budgetPercent")
    min_retry_concurrency: Concurrency | None = Field(default=None, alias="minRetryConcurrency")
