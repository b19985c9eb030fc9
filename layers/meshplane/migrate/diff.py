"""Field-level differences between two wire-form documents, named as the API names their members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "(absent)"})()


@dataclass(frozen=True)
class FieldChange:
    """`path` (e.g. `spec.httpRoute.action.weightedTargets[1].weight`) goes from `before` to `after`."""

    path: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, **({} if self.before is ABSENT else {"before": self.before}),
                **({} if self.after is ABSENT else {"after": self.after})}


def changes(before: Any, after: Any, path: str) -> list[FieldChange]:
    """Every leaf that differs; a structure or list present on one side only is one change."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[FieldChange] = []
        for key in sorted(before.keys() | after.keys()):
            found += changes(before.get(key, ABSENT), after.get(key, ABSENT), f"{path}.{key}")
        return found
    if isinstance(before, list) and isinstance(after, list):
        found = []
        for i in range(max(len(before), len(after))):
            found += changes(before[i] if i < len(before) else ABSENT, after[i] if i < len(after) else ABSENT,
                             f"{path}[{i}]")
        return found
    return [] if before == after else [FieldChange(path, before, after)]
