"""The plan and the apply report as text for a terminal: a diff per resource, then a summary."""

from __future__ import annotations

import json
from typing import Any

from meshplane.migrate.apply import Report
from meshplane.migrate.diff import ABSENT, FieldChange
from meshplane.migrate.plan import Plan, Step

SIGNS = {"create": "+", "update": "~", "unchanged": "="}


def plan_text(plan: Plan, *, verbose: bool = False) -> str:
    """`+ create ...` with every field, `~ update ...` with the fields that change, `= unchanged ...` listed once."""
    lines: list[str] = []
    for step in plan.steps:
        lines.append(f"{SIGNS[step.action]} {step.action} {step.desired.label}    ({step.desired.origin})")
        if step.action == "create":
            lines += [f"    + {path}: {_shown(value)}" for path, value in _leaves(step)]
        elif step.action == "update" or verbose:
            lines += [_change(c) for c in step.field_changes()]
        lines += [f"    note: {note}" for note in step.desired.notes]
    lines.append(f"Plan: {plan.count('create')} to create, {plan.count('update')} to update, "
                 f"{plan.count('unchanged')} unchanged.")
    return "\n".join(lines)


def report_text(report: Report) -> str:
    lines = [f"applied: {_label(s)}" for s in report.applied]
    if report.failed is not None:
        lines.append(f"FAILED: {_label(report.failed)}: {report.error}")
        if report.partial:
            lines.append(f"    of which went through: {', '.join(report.partial)}")
        lines += [f"not applied: {_label(s)}" for s in report.not_applied]
        lines.append(f"Stopped: {len(report.applied)} applied, 1 failed, {len(report.not_applied)} not applied. "
                     "What was applied is complete and consistent; fix the cause and run the import again.")
    else:
        lines.append(f"Applied: {len(report.applied)} resource(s) changed.")
    return "\n".join(lines)


def _label(step: Step) -> str:
    return f"{step.action} {step.desired.label} ({step.desired.origin})"


def _change(change: FieldChange) -> str:
    if change.before is ABSENT:
        return f"    + {change.path}: {_shown(change.after)}"
    if change.after is ABSENT:
        return f"    - {change.path}: {_shown(change.before)}"
    return f"    ~ {change.path}: {_shown(change.before)} -> {_shown(change.after)}"


def _leaves(step: Step) -> list[tuple[str, Any]]:
    found = list(_flatten(step.desired.spec, "spec"))
    found += [(f"tags.{k}", v) for k, v in sorted((step.desired.tags or {}).items())]
    return found


def _flatten(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for key in sorted(value) for leaf in _flatten(value[key], f"{path}.{key}")]
    if isinstance(value, list) and value:
        return [leaf for i, item in enumerate(value) for leaf in _flatten(item, f"{path}[{i}]")]
    return [(path, value)]


def _shown(value: Any) -> str:
    return json.dumps(value, default=str)
