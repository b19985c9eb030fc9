"""Envoy side of the `retryBudget` section: a retry budget on the caller cluster's circuit breakers.

Envoy ignores a threshold's `max_retries` once it has a `retry_budget`, so the budget
replaces App Mesh's unlimited retry count (2147483647) and leaves the other limits as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envoy.config.cluster.v3.circuit_breaker_pb2 import CircuitBreakers
from envoy.config.cluster.v3.cluster_pb2 import Cluster

if TYPE_CHECKING:  # the section models load only where a policy gives the section
    from meshplane.model.policy.retry_budget import RetryBudget




def budgeted(breakers: CircuitBreakers, budget: RetryBudget) -> CircuitBreakers:
    """A copy of `breakers` whose thresholds each carry `budget`."""
    out = CircuitBreakers()
    out.CopyFrom(breakers)
    for threshold in out.thresholds:
        threshold.ClearField("max_retries")
        rb = threshold.retry_budget
        rb.SetInParent()
        if budget.budget_percent is not None:
            rb.budget_percent.value = budget.budget_percent
        if budget.min_retry_concurrency is not None:
            rb.min_retry_concurrency.value = budget.min_retry_concurrency
    return out


def apply(cluster: Cluster, section: RetryBudget | None) -> None:
    """Put `section`'s budget on the caller cluster's circuit breakers."""
    if section is not None:
        cluster.circuit_breakers.CopyFrom(budgeted(cluster.circuit_breakers, section))
