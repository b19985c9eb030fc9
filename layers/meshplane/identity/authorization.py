"""May this IAM principal be that node? IAM decides, as it did for App Mesh.

`iam:SimulatePrincipalPolicy` evaluates the principal's identity policies (and its
permissions boundary) for `appmesh:StreamAggregatedResources` on the node's ARN, so the
App Mesh policies users already wrote keep their meaning; only the decision `allowed`
allows. Decisions are cached for a bounded time (default 60 s) and size: that bound is
how long a revoked permission may still open streams. An error is a denial and is not
cached, so IAM recovering means access recovering.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from meshplane.identity.ttlcache import TtlCache

log = logging.getLogger(__name__)
STREAM_ACTION = "appmesh:StreamAggregatedResources"
DECISION_TTL_S = 60.0


class NodeAuthorizer:
    def __init__(self, iam: Any, ttl: float = DECISION_TTL_S, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._iam = iam
        self._decisions: TtlCache[tuple[str, str], bool] = TtlCache(ttl, max_entries, clock)

    def allowed(self, principal_arn: str, node_arn: str) -> bool:
        key = (principal_arn, node_arn)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        try:
            decision = self._simulate(principal_arn, node_arn)
        except Exception as exc:  # whatever IAM or the network did: deny, and ask again next time
            log.warning("iam:SimulatePrincipalPolicy for %s on %s failed: %s", principal_arn, node_arn, exc)
            return False
        self._decisions.put(key, decision)
        return decision

    def _simulate(self, principal_arn: str, node_arn: str) -> bool:
        answer = self._iam.simulate_principal_policy(
            PolicySourceArn=principal_arn, ActionNames=[STREAM_ACTION], ResourceArns=[node_arn]
        )
        results = answer.get("EvaluationResults", [])
        return bool(results) and all(
            r.get("EvalActionName") == STREAM_ACTION and r.get("EvalDecision") == "allowed" for r in results
        )
