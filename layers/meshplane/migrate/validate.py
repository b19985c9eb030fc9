"""Check every resource against the generated shapes and App Mesh's rules before anything is applied.

The API would refuse the same things, but one at a time and after earlier resources
were written; checking the whole set first means a bad source changes nothing, and
every problem is reported at once, each at the place the source defines it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from pydantic import ValidationError

from meshplane.migrate.desired import Desired
from meshplane.migrate.errors import Collector, SourceError
from meshplane.migrate.wire import source_path
from meshplane.model import names, rules, shapes
from meshplane.model.base import AppMeshModel
from meshplane.store.kinds import KINDS
from meshplane.store.limits import Limits

MAX_TAGS = Limits().tags_per_resource


def validate(resources: Iterable[Desired]) -> list[Desired]:
    """The resources, each checked; InvalidSource names every problem (file, resource, field)."""
    errors = Collector()
    seen: dict[object, Desired] = {}
    checked: list[Desired] = []
    for desired in resources:
        first = seen.get(desired.key)
        if first is not None:
            errors.errors.append(SourceError(desired.origin, None, f"defines {desired.label} again (first defined "
                                                                   f"by {first.origin})"))
            continue
        seen[desired.key] = desired
        if errors.run(desired.origin, partial(_check, desired)) is not None:
            checked.append(desired)
    errors.raise_if_any()
    return checked


def spec_model(desired: Desired) -> AppMeshModel:
    """The resource's spec as its generated shape; SourceError at the source's field on a mismatch."""
    try:
        return KINDS[desired.key.kind].spec.model_validate(desired.spec)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = source_path(desired.paths, tuple(first["loc"])) if desired.paths else _dotted(first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SourceError(desired.origin, where, f"{first['msg']}{more}") from None


def _check(desired: Desired) -> bool:
    key = desired.key
    for label, name in (("mesh name", key.mesh), ("name", key.name), ("parent name", key.parent)):
        reason = None if name is None else names.problem(name)
        if reason is not None:
            raise SourceError(desired.origin, None, f"{label} {name!r}: {reason}")
    model = spec_model(desired)
    desired.spec = compact(model.wire())
    try:
        rules.check_spec(model)
    except rules.RuleViolation as violation:
        raise SourceError(desired.origin, None, str(violation)) from None
    if desired.tags is not None:
        if len(desired.tags) > MAX_TAGS:
            raise SourceError(desired.origin, "tags", f"at most {MAX_TAGS} tags, got {len(desired.tags)}")
        for tag, value in desired.tags.items():
            try:
                shapes.TagRef.model_validate({"key": tag, "value": value})
            except ValidationError as exc:
                raise SourceError(desired.origin, f"tags.{tag}", exc.errors()[0]["msg"]) from None
    return True


def compact(value: Any) -> Any:
    """The wire form without empty lists: App Mesh reads `backends: []` as no backends, and describes print
    either, so the stored spec and every comparison are the same whichever form a source used."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def _dotted(loc: tuple[object, ...]) -> str:
    return "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
