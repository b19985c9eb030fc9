"""The rule every App Mesh resource name follows, wherever a name enters meshplane.

A name becomes a DynamoDB key, an ARN path segment (and so a resource in IAM
policies), an S3 key segment, an Envoy cluster and stat name and, for virtual
services, a DNS name.  App Mesh documents only the length (1 to 255), so the
character set is the one that is safe in all of those at once:

- ASCII letters, digits, '-', '_' and '.': what App Mesh users name things with
  (`color-v2`, `my_service.local`, `name_namespace` from the Kubernetes
  controller), and what DNS, ARNs and Envoy stats take unchanged;
- the first character a letter, digit or '_', and no '..': a name is never
  '.', '..', a path climbing out of its segment, or mistaken for a CLI option;
- so never a control or format character (NUL, TAB, CR/LF, U+202E, a BOM),
  whitespace, '/', '#' (the store's key separator), or the IAM wildcards '*'
  and '?', which would widen any policy whose resource ARN is built from a name.

ASCII also makes characters and bytes the same count: the longest store key
(a route's counter, mesh + router + route) stays far below DynamoDB's 1,024
byte sort key (`store.limits`, proven by tests/model/test_names.py).
"""

from __future__ import annotations

import re

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from meshplane.model.ids import ResourceKey

MAX_CHARS = 255
ALLOWED = "letters, digits, '-', '_' and '.'"
_CHARS = re.compile(r"[A-Za-z0-9_.\-]*")
_FIRST = re.compile(r"[A-Za-z0-9_]")


def problem(name: str) -> str | None:
    """Why `name` is not a valid resource name, or None when it is."""
    if not 1 <= len(name) <= MAX_CHARS:
        return f"must be 1 to {MAX_CHARS} characters, got {len(name)}"
    if not _CHARS.fullmatch(name):
        position, char = next((i, c) for i, c in enumerate(name) if not _CHARS.fullmatch(c))
        return f"character {position + 1} ({describe(char)}) is not allowed: use {ALLOWED}"
    if not _FIRST.fullmatch(name[0]):
        return f"must start with a letter, a digit or '_', not {describe(name[0])}"
    if ".." in name:
        return "must not contain '..'"
    return None


def describe(char: str) -> str:
    """A character as a message may show it: printable ASCII quoted, anything else as its code point."""
    return repr(char) if " " < char < "\x7f" else f"U+{ord(char):04X}"


def check_name(value: str) -> str:
    """The pydantic validator of every name field: the value, or an error pydantic reports at the field."""
    reason = problem(value)
    if reason is not None:
        raise PydanticCustomError("appmesh_name", "{reason}", {"reason": reason})
    return value


def check_resource_arn(value: str) -> str:
    """The pydantic validator of the ARN an operation acts on: an App Mesh ARN (or a meshplane policy's, which
    the tag operations take too) whose names follow the rule."""
    from meshplane.model.policy.keys import PolicyKey

    try:
        key: ResourceKey | PolicyKey = ResourceKey.from_arn(value)
    except ValueError:
        try:
            key = PolicyKey.from_arn(value)
        except ValueError:
            raise PydanticCustomError("appmesh_arn", "not an App Mesh resource ARN") from None
    parts = (("mesh name", key.mesh), ("parent name", getattr(key, "parent", None)), ("resource name", key.name))
    for label, name in parts:
        reason = None if name is None else problem(name)
        if reason is not None:
            raise PydanticCustomError("appmesh_arn", "{label}: {reason}", {"label": label, "reason": reason})
    return value


AppMeshName = AfterValidator(check_name)
AppMeshResourceArn = AfterValidator(check_resource_arn)
