"""Apply a plan in dependency order, stopping at the first refusal and saying what was and was not applied.

Steps run in `desired.APPLY_ORDER`, so whatever was applied when the API refuses a step
has everything it references: the target stays consistent, only incomplete.  The report
lists the steps applied, the one refused (with the API's error) and the ones not tried;
running the same import again after fixing the cause applies only what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshplane.migrate import appmesh
from meshplane.migrate.plan import Plan, Step


@dataclass
class Report:
    applied: list[Step] = field(default_factory=list)
    failed: Step | None = None
    error: str | None = None
    partial: list[str] = field(default_factory=list)  # calls of the failed step that went through
    not_applied: list[Step] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # every write call, by operation name

    @property
    def ok(self) -> bool:
        return self.failed is None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "applied": [_entry(s) for s in self.applied],
            "failed": {**_entry(self.failed), "error": self.error, "partial": self.partial} if self.failed else None,
            "notApplied": [_entry(s) for s in self.not_applied],
        }


def _entry(step: Step) -> dict[str, Any]:
    return {"action": step.action, "resource": step.desired.label, "source": str(step.desired.origin)}


def apply(client: Any, plan: Plan) -> Report:
    """Run every create and update of `plan`; unchanged steps make no call."""
    report = Report()
    pending = [s for s in plan.steps if s.action != "unchanged"]
    for index, step in enumerate(pending):
        done: list[str] = []
        try:
            _run(client, step, done)
        except Exception as exc:  # the API's refusal (or a transport failure): stop here, report it
            report.failed, report.error, report.partial = step, appmesh.error_message(exc), done
            report.not_applied = pending[index + 1:]
            report.calls += done
            return report
        report.calls += done
        report.applied.append(step)
    return report


def _run(client: Any, step: Step, done: list[str]) -> None:
    desired = step.desired
    type_name = desired.key.kind.value[0].upper() + desired.key.kind.value[1:]
    if step.action == "create":
        appmesh.create(client, desired)
        done.append(f"Create{type_name}")
        return
    if step.spec_changes:
        appmesh.update(client, desired)
        done.append(f"Update{type_name}")
    if (step.tags_set or step.tags_removed) and desired.tags is not None:
        assert step.arn is not None
        done += appmesh.retag(client, step.arn, desired.tags, step.current_tags)
