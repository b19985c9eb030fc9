"""Turn one HTTP request into the validated `*Input` model of its operation.

URI labels, query parameters and the JSON body are merged under their member
names and validated by the generated shape, strictly: a wrong type, an
out-of-range value, an unknown field or a name outside `model.names` is a
BadRequest naming the field.  A spec too large to store is refused here too,
so nothing a client sends can exceed what one DynamoDB item holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from meshplane.api import strict_json
from meshplane.api.routes import Operation
from meshplane.model.base import AppMeshModel
from meshplane.store.errors import BadRequest, TooManyTags
from meshplane.store.limits import MAX_TAGS_PER_RESOURCE, SPEC_MAX_BYTES
from meshplane.store.schema import spec_json

MAX_TAGS = MAX_TAGS_PER_RESOURCE
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def bind(
    op: Operation, labels: Mapping[str, str], query: Mapping[str, Sequence[str]], body: bytes | None
) -> AppMeshModel:
    values: dict[str, Any] = dict(_parse_body(op, body))
    values.update(labels)
    values.update(_parse_query(op, query))
    tags = values.get("tags")
    if isinstance(tags, list) and len(tags) > MAX_TAGS:
        raise TooManyTags(f"tags: at most {MAX_TAGS} tags per resource, got {len(tags)}")
    try:
        inp = op.input_model.model_validate(values)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from None
    _check_spec_size(inp)
    return inp


def _check_spec_size(inp: AppMeshModel) -> None:
    spec = getattr(inp, "spec", None)
    if spec is None:
        return
    size = len(spec_json(spec).encode())
    if size > SPEC_MAX_BYTES:
        raise BadRequest(f"spec: {size} bytes when stored, at most {SPEC_MAX_BYTES} (one DynamoDB item)")


def describe_validation_error(exc: ValidationError) -> str:
    """`field.path[0].member: problem`, for the first error, with a count of the others."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    field = strict_json.shown(_location(first["loc"])) or "body"  # the path may hold a client's unknown key
    message = f"{field}: {first['msg']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    return message


def _location(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _parse_body(op: Operation, body: bytes | None) -> dict[str, Any]:
    if body is None or not body.strip():
        return {}
    content = strict_json.loads(body, "body")
    if not isinstance(content, dict):
        raise BadRequest("body: must be a JSON object")
    for field in content:
        if field not in op.body_members:
            raise BadRequest(f"{strict_json.shown(field)}: unknown field for {op.name}")
    return content


def _parse_query(op: Operation, query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, given in query.items():
        if name not in op.query_members:
            raise BadRequest(f"{strict_json.shown(name)}: unknown query parameter for {op.name}")
        member, shape_type = op.query_members[name]
        value = given[-1] if given else ""
        if shape_type in ("integer", "long"):
            if not _INTEGER.fullmatch(value):
                raise BadRequest(f"{member}: must be an integer, got {strict_json.shown(value)}")
            values[member] = int(value)
        else:
            values[member] = value
    return values
