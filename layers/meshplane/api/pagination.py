"""Opaque `nextToken`s: where the next page starts, bound to the listing that issued it."""

from __future__ import annotations

import base64
import binascii
import json

from meshplane.store.errors import BadRequest

_VERSION = 1


def encode(scope: str, after: str) -> str:
    """A token that resumes the listing `scope` after the item named `after`."""
    raw = json.dumps({"v": _VERSION, "s": scope, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str | None, scope: str) -> str | None:
    """The name to resume after; BadRequest for a token that is malformed or from another listing."""
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        content = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):  # Recursion: deeply nested JSON
        raise BadRequest("nextToken: not a token issued by this API") from None
    after = content.get("a") if isinstance(content, dict) else None
    if not isinstance(after, str) or content.get("v") != _VERSION or content.get("s") != scope:
        raise BadRequest("nextToken: not a token of this listing")
    return after
