"""Errors that name the place: the source file, the resource in it and the field."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Origin:
    """Where a resource was defined: a file (or account) and the resource's own name there."""

    source: str  # a file path, or `account <region>` for a live read
    resource: str  # a CloudFormation logical id, `Kind namespace/name`, or `virtualNode mesh/name`

    def __str__(self) -> str:
        return f"{self.source}: {self.resource}"


class SourceError(Exception):
    """One malformed or unsupported definition; the message names file, resource and field."""

    def __init__(self, origin: Origin | None, field: str | None, message: str) -> None:
        self.origin, self.field, self.message = origin, field, message
        where = [str(origin)] if origin is not None else []
        if field:
            where.append(field)
        super().__init__(": ".join([*where, message]))


class InvalidSource(Exception):
    """Every problem found in the sources, reported together before anything is applied."""

    def __init__(self, errors: Iterable[SourceError]) -> None:
        self.errors = list(errors)
        lines = "\n".join(f"  {error}" for error in self.errors)
        super().__init__(f"{len(self.errors)} problem(s) in the sources; nothing was applied:\n{lines}")


class Collector:
    """Gathers SourceErrors across resources, so one run reports them all."""

    def __init__(self) -> None:
        self.errors: list[SourceError] = []

    def run(self, origin: Origin | None, step: Callable[[], T]) -> T | None:
        """`step()`, or None after recording the SourceError it raised (with `origin` if it named none)."""
        try:
            return step()
        except SourceError as error:
            if error.origin is None and origin is not None:
                error = SourceError(origin, error.field, error.message)
            self.errors.append(error)
            return None

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidSource(self.errors)
