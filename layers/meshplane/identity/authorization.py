"""May this IAM principal be that node? IAM decides, as it did for App Mesh.

`iam:SimulatePrincipalPolicy` evaluates the principal's identity policies (and its
permissions boundary) for `appmesh:StreamAggregatedResources` on the node's ARN, so the
App Mesh policies users already wrote keep their meaning; only the decision `allowed`
allows. Decisions are cached for a bounded time (default 60 s) and size: that bound is
how long a revoked permission may still open streams. An error is a denial and is not
cached, so IAM recovering means access recovering.

The ADS asks on every stream open (`allowed_async`): a cached answer costs nothing, and
the streams of one node that reconnect together (a restart) wait on one IAM call, made
on a small pool of its own so IAM's rate limit and latency never hold the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from meshplane.identity.defaults import DECISION_TTL_S
from meshplane.ttlcache import TtlCache

log = logging.getLogger(__name__)
STREAM_ACTION = "appmesh:StreamAggregatedResources"
IAM_CALLS_AT_ONCE = 4


class NodeAuthorizer:
    def __init__(self, iam: Any, ttl: float = DECISION_TTL_S, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._iam = iam
        self._decisions: TtlCache[tuple[str, str], bool] = TtlCache(ttl, max_entries, clock)
        self._pool: ThreadPoolExecutor | None = None
        self._asking: dict[tuple[str, str], asyncio.Future[bool]] = {}  # touched on the event loop only

    async def allowed_async(self, principal_arn: str, node_arn: str) -> bool:
        key = (principal_arn, node_arn)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        asking = self._asking.get(key)
        if asking is None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(IAM_CALLS_AT_ONCE, thread_name_prefix="iam-decisions")
            asking = asyncio.get_running_loop().run_in_executor(self._pool, self.allowed, principal_arn, node_arn)
            self._asking[key] = asking
            asking.add_done_callback(lambda _: self._asking.pop(key, None))
        return await asyncio.shield(asking)

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
