"""The `headers` policy section: add, set and remove HTTP headers on requests and responses.

Envoy refuses to touch pseudo-headers (`:path`, `:authority`, ...) and `host`
in a route's or virtual host's header rules, so those are refused at write
time, naming the field, rather than failing later when the proxy's config is
built.  Values are literal: the translator escapes `%` so that Envoy never
reads a value as a formatter command.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from meshplane.model.base import AppMeshModel

TARGETS: frozenset[str] = frozenset({"route", "gatewayRoute", "virtualNode"})
"""Route rules apply to that route, node rules to every request the node's ingress accepts."""

MAX_RULES = 50
"""Entries per list: generous for real use, small enough to keep a proxy's route table lean."""

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
"""RFC 9110 `token`: the characters a header field name may use."""

_UNTOUCHABLE = frozenset({"host"})
"""Names Envoy refuses in header rules besides the `:`-prefixed pseudo-headers."""

RESERVED_PREFIX = "x-meshplane-"
"""The mesh's own headers (the gateway's steering header): a policy changing them would misroute."""

HeaderName = Annotated[str, Field(min_length=1, max_length=256)]
HeaderValue = Annotated[str, Field(max_length=8192)]


class _PolicyModel(AppMeshModel):
    """Frozen: a resolved policy section is shared by every proxy view that reads it."""

    model_config = ConfigDict(frozen=True)


def _checked_name(name: str) -> str:
    if name.startswith(":"):
        raise ValueError(f"pseudo-header {name!r} cannot be changed by a policy")
    if not _TOKEN.match(name):
        raise ValueError(f"{name!r} is not a valid HTTP header name")
    if name.lower() in _UNTOUCHABLE:
        raise ValueError(f"header {name!r} cannot be changed by a policy (Envoy routes on it)")
    if name.lower().startswith(RESERVED_PREFIX):
        raise ValueError(f"headers starting with {RESERVED_PREFIX!r} are reserved for the mesh")
    return name


class Header(_PolicyModel):
    """One header name and its literal value."""

    name: HeaderName
    value: HeaderValue

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return _checked_name(name)

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        if any(c in value for c in "\r\n\x00"):
            raise ValueError("a header value cannot contain CR, LF or NUL")
        return value


class HeaderOperations(_PolicyModel):
    """Header changes for one direction; applied as remove, then set (overwrite), then add (append)."""

    add: Annotated[list[Header], Field(max_length=MAX_RULES)] | None = None
    set_: Annotated[list[Header], Field(max_length=MAX_RULES)] | None = Field(default=None, alias="set")
    remove: Annotated[list[HeaderName], Field(max_length=MAX_RULES)] | None = None

    @field_validator("remove")
    @classmethod
    def _remove_names(cls, names: list[str] | None) -> list[str] | None:
        return None if names is None else [_checked_name(name) for name in names]

    @property
    def added(self) -> list[Header]:
        """Headers appended to whatever values the message already carries."""
        return self.add or []

    @property
    def overwritten(self) -> list[Header]:
        """Headers whose existing values are replaced."""
        return self.set_ or []

    @property
    def removed(self) -> list[str]:
        """Header names dropped from the message."""
        return self.remove or []

    @model_validator(mode="after")
    def _no_conflicts(self) -> HeaderOperations:
        added, overwritten = [h.name for h in self.added], [h.name for h in self.overwritten]
        if not (added or overwritten or self.removed):
            raise ValueError("at least one of add, set or remove must be given")
        _refuse_duplicates("set", overwritten)
        _refuse_duplicates("remove", self.removed)
        _refuse_overlap("set", overwritten, "remove", self.removed)
        _refuse_overlap("add", added, "remove", self.removed)
        _refuse_overlap("add", added, "set", overwritten)
        return self


def _refuse_duplicates(field: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise ValueError(f"{field} names header {name!r} more than once")
        seen.add(name.lower())


def _refuse_overlap(first: str, a: list[str], second: str, b: list[str]) -> None:
    both = sorted({n.lower() for n in a} & {n.lower() for n in b})
    if both:
        raise ValueError(f"header {both[0]!r} is in both {first} and {second}")


class HeaderRules(_PolicyModel):
    """Request changes happen before the request is forwarded; response changes before the client sees it."""

    request: HeaderOperations | None = None
    response: HeaderOperations | None = None

    @model_validator(mode="after")
    def _some_direction(self) -> HeaderRules:
        if self.request is None and self.response is None:
            raise ValueError("at least one of request or response must be given")
        return self
