"""What the reconcile remembers between passes: one item, `pk = RECONCILE`, `sk = STATE`.

It sits outside the partitions the recompute's stream filter passes.  Besides the change
markers' moments it holds the walk in progress (`Walk`): a sweep or an ECS pass too large
for one invocation goes on where the last invocation stopped, instead of starting again
(and timing out again) every minute.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

STATE_PK = "RECONCILE"
STATE_SK = "STATE"


class Stage(StrEnum):
    """A walk's stages, in the order a sweep takes them; an ECS walk takes the two ECS stages only."""

    CLOUD_MAP = "cloudmap"  # every Cloud Map node discovered again, in node order
    ECS_STORED = "ecs-stored"  # each node's stored ECS endpoints whose task no longer runs settled, in node order
    ECS_RUNNING = "ecs-running"  # every running task described and written where the store differs, in ARN order
    RECOMPUTE = "recompute"  # every mesh rebuilt in full and compared with its pointers, in mesh order


class WalkKind(StrEnum):
    SWEEP = "sweep"
    ECS = "ecs"


STAGES: dict[WalkKind, tuple[Stage, ...]] = {
    WalkKind.SWEEP: (Stage.CLOUD_MAP, Stage.ECS_STORED, Stage.ECS_RUNNING, Stage.RECOMPUTE),
    WalkKind.ECS: (Stage.ECS_STORED, Stage.ECS_RUNNING),
}


@dataclass(frozen=True)
class Walk:
    """A sweep or an ECS pass under way: its stage, and the key of the last thing the stage finished (`after`, a
    node's (mesh, node), a task's (cluster, ARN) or a mesh's (name,); empty before the stage's first).

    `ecs_digest` is the digest of the running tasks listed when the ECS stages began, and
    `ecs_clusters` the clusters they cover (those its stored endpoints name are added as the
    walk meets them).  A task that starts or stops later may sort behind the cursor, so the
    walk leaves that digest as the last one seen, and the next pass that lists a different
    set walks the tasks again."""

    kind: WalkKind
    started_at: float
    stage: Stage
    after: tuple[str, ...] = ()
    ecs_digest: str = ""
    ecs_clusters: tuple[str, ...] = ()

    @classmethod
    def begin(cls, kind: WalkKind, started_at: float) -> Walk:
        return cls(kind, started_at, STAGES[kind][0])

    def advanced(self, after: tuple[str, ...]) -> Walk:
        return replace(self, after=after)

    def next_stage(self) -> Walk | None:
        """The walk at the start of its next stage; None when this was its last."""
        stages = STAGES[self.kind]
        following = stages.index(self.stage) + 1
        return replace(self, stage=stages[following], after=()) if following < len(stages) else None

    @property
    def at_start(self) -> bool:
        return self.stage is STAGES[self.kind][0] and not self.after

    @property
    def ecs_begun(self) -> bool:
        """Whether the walk has listed the tasks its ECS stages compare with (a sweep still at Cloud Map has not)."""
        return self.stage is not Stage.CLOUD_MAP

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind.value, "startedAt": self.started_at, "stage": self.stage.value,
                           "after": list(self.after), "ecsDigest": self.ecs_digest,
                           "ecsClusters": list(self.ecs_clusters)})

    @classmethod
    def from_json(cls, text: str) -> Walk:
        raw = json.loads(text)
        return cls(WalkKind(raw["kind"]), float(raw["startedAt"]), Stage(raw["stage"]), tuple(raw["after"]),
                   raw["ecsDigest"], tuple(raw["ecsClusters"]))


@dataclass(frozen=True)
class Marks:
    """What the passes saw: when the last one started, when the last whole sweep started, the running ECS tasks
    the last whole ECS walk compared with, and the walk under way."""

    passed_at: float
    swept_at: float
    ecs_digest: str = ""
    ecs_clusters: tuple[str, ...] = ()
    walk: Walk | None = None


class MarkStore:
    """The reconcile's one item in the state table."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def get(self) -> Marks | None:
        item = self._dynamodb.get_item(TableName=self._table, Key=_key(), ConsistentRead=True).get("Item")
        if not item:
            return None
        walk = Walk.from_json(item["walk"]["S"]) if "walk" in item else None
        return Marks(float(item["passedAt"]["N"]), float(item["sweptAt"]["N"]), item["ecsDigest"]["S"],
                     tuple(v["S"] for v in item["ecsClusters"]["L"]), walk)

    def put(self, marks: Marks) -> None:
        item = {**_key(), "passedAt": {"N": repr(marks.passed_at)}, "sweptAt": {"N": repr(marks.swept_at)},
                "ecsDigest": {"S": marks.ecs_digest}, "ecsClusters": {"L": [{"S": c} for c in marks.ecs_clusters]}}
        if marks.walk is not None:
            item["walk"] = {"S": marks.walk.to_json()}
        self._dynamodb.put_item(TableName=self._table, Item=item)


def _key() -> dict[str, Any]:
    return {"pk": {"S": STATE_PK}, "sk": {"S": STATE_SK}}


def task_digest(running: Mapping[str, Iterable[str]]) -> str:
    """One string that changes whenever a cluster's set of running tasks does."""
    text = "\n".join(f"{cluster} {' '.join(sorted(arns))}" for cluster, arns in sorted(running.items()))
    return hashlib.sha256(text.encode()).hexdigest()
