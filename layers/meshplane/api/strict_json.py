"""JSON from clients, read strictly: each way a document can be malformed is a BadRequest naming it.

`json.loads` alone is too lenient for an edge that stores what it reads: it
accepts NaN and Infinity (not JSON), keeps the last of duplicate keys (so two
readers of one body can disagree on what it says), sniffs UTF-16 and UTF-32,
and raises RecursionError, not ValueError, on deep nesting.
"""

from __future__ import annotations

import json
from typing import Any

from meshplane.store.errors import BadRequest

MAX_BODY_BYTES = 1024 * 1024
"""The largest request body read at all.

An App Mesh request describes one resource, which must fit one DynamoDB item
(400 KB, see `store.limits`); a maximal virtual node spec is tens of KB.  1 MiB
leaves more than twice the largest storable item for JSON whitespace and
escapes, far below API Gateway's 10 MB payload cap and Lambda's 6 MB, so a
client cannot make the API buffer and parse megabytes per request.
"""
SHOWN_CHARS = 128  # how much of a client's key a message repeats


class _Refused(ValueError):
    """Valid JSON syntax that a client must not send."""


def loads(data: bytes, what: str) -> Any:
    """The JSON value in `data` (UTF-8); BadRequest naming `what` for anything else."""
    if len(data) > MAX_BODY_BYTES:
        raise BadRequest(f"{what}: {len(data)} bytes, at most {MAX_BODY_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{what}: not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise BadRequest(f"{what}: JSON nested too deeply") from None
    except _Refused as exc:
        raise BadRequest(f"{what}: {exc}") from None
    except ValueError as exc:
        raise BadRequest(f"{what}: malformed JSON ({exc})") from None


def shown(text: str) -> str:
    """A client-supplied string as an error message may repeat it: bounded, and escaped past printable ASCII."""
    clipped = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."
    return ascii(clipped)[1:-1]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    content = dict(pairs)
    if len(content) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {shown(key)}")
            seen.add(key)
    return content


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON value")
