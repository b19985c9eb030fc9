"""IAM identity-policy evaluation, as AWS documents it, for the local emulator's policy simulator.

Pure functions over parsed policy documents and one request (action, resource,
context keys).  moto has no policy simulator and its own access checks ignore
conditions and policy variables, so the local stack evaluates with this module.

What it follows (the IAM JSON policy reference):
- an explicit Deny in any policy wins; otherwise an Allow is needed; otherwise implicit deny;
- a permissions boundary limits the identity policies: both must allow, a Deny in either wins;
- Action/NotAction match case-insensitively with `*` and `?`; Resource/NotResource match
  ARNs with wildcards inside a segment, and a segment's trailing `*` may cross colons;
- policy variables `${key}` and `${key, 'default'}` in resources and condition values,
  `${*}`, `${?}`, `${$}` as literals; a variable without a value makes that element not match;
- condition blocks: operators AND, keys AND, values OR; `...IfExists`; the `ForAnyValue:` and
  `ForAllValues:` set qualifiers over multi-valued keys; negated operators are true for a
  missing key; `Null`; condition keys are case-insensitive.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

Context = Mapping[str, Sequence[str]]  # lower-cased condition key -> its values
Matcher = Callable[[str, str, "Context"], bool]  # (request value, policy value, context)


class PolicyError(ValueError):
    """A policy this evaluator cannot honour (unknown operator, malformed element)."""


class Decision(str, Enum):
    """`EvalDecision` as the IAM simulator spells it."""

    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


@dataclass(frozen=True)
class Policy:
    """One policy document and how the simulator names it (`SourcePolicyId`, `SourcePolicyType`)."""

    id: str
    type: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Context = field(default_factory=dict)


@dataclass(frozen=True)
class Matched:
    policy_id: str
    policy_type: str
    sid: str | None


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    matched: tuple[Matched, ...]  # the statements that decided it
    missing: tuple[str, ...]  # condition keys the applicable statements name and the context lacks
    allowed_by_boundary: bool | None = None  # None without a permissions boundary


def normalize_context(entries: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Context keys are case-insensitive: one lower-cased key per name, values kept as given."""
    return {key.lower(): tuple(values) for key, values in entries.items()}


def evaluate(policies: Sequence[Policy], request: Request, boundary: Policy | None = None) -> Evaluation:
    """The decision of `policies` (and an optional permissions boundary) for one request."""
    identity = _Outcome.of(policies, request)
    missing = set(identity.missing)
    allowed_by_boundary: bool | None = None
    decision = identity.decision
    matched = identity.matched
    if boundary is not None:
        limit = _Outcome.of([boundary], request)
        missing |= set(limit.missing)
        allowed_by_boundary = limit.decision is Decision.ALLOWED
        if limit.decision is Decision.EXPLICIT_DENY and decision is not Decision.EXPLICIT_DENY:
            decision, matched = Decision.EXPLICIT_DENY, limit.matched
        elif decision is Decision.ALLOWED and not allowed_by_boundary:
            decision, matched = Decision.IMPLICIT_DENY, ()
    return Evaluation(decision, matched, tuple(sorted(missing)), allowed_by_boundary)


@dataclass(frozen=True)
class _Outcome:
    decision: Decision
    matched: tuple[Matched, ...]
    missing: tuple[str, ...]

    @classmethod
    def of(cls, policies: Iterable[Policy], request: Request) -> _Outcome:
        allows: list[Matched] = []
        denies: list[Matched] = []
        missing: set[str] = set()
        for policy in policies:
            for statement in statements(policy.document):
                if not (_action_applies(statement, request.action) and
                        _resource_applies(statement, request.resource, request.context)):
                    continue
                conditions = _conditions(statement)
                missing.update(k for k in condition_keys(conditions) if k.lower() not in request.context)
                if not conditions_hold(conditions, request.context):
                    continue
                effect = statement.get("Effect")
                hit = Matched(policy.id, policy.type, statement.get("Sid"))
                if effect == "Deny":
                    denies.append(hit)
                elif effect == "Allow":
                    allows.append(hit)
                else:
                    raise PolicyError(f"Effect must be Allow or Deny, got {effect!r}")
        if denies:
            return cls(Decision.EXPLICIT_DENY, tuple(denies), tuple(sorted(missing)))
        if allows:
            return cls(Decision.ALLOWED, tuple(allows), tuple(sorted(missing)))
        return cls(Decision.IMPLICIT_DENY, (), tuple(sorted(missing)))


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = document.get("Statement", [])
    found = [found] if isinstance(found, Mapping) else found
    if not isinstance(found, list) or not all(isinstance(s, Mapping) for s in found):
        raise PolicyError("Statement must be an object or a list of objects")
    return found


def _values(element: Any) -> list[str]:
    if element is None:
        return []
    items = element if isinstance(element, list) else [element]
    return [_text(item) for item in items]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise PolicyError(f"policy values must be strings, numbers or booleans, got {value!r}")


# --- Action and Resource ------------------------------------------------------------------


def _action_applies(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(action_matches(p, action) for p in _values(statement["NotAction"]))
    return any(action_matches(p, action) for p in _values(statement.get("Action")))


def action_matches(pattern: str, action: str) -> bool:
    """`service:Name` patterns; IAM compares actions case-insensitively."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, action, re.IGNORECASE | re.DOTALL) is not None


def _resource_applies(statement: Mapping[str, Any], resource: str, context: Context) -> bool:
    if "NotResource" in statement:
        patterns = _values(statement["NotResource"])
        return not any(resource_matches(p, resource, context) for p in patterns)
    return any(resource_matches(p, resource, context) for p in _values(statement.get("Resource")))


def resource_matches(pattern: str, resource: str, context: Context) -> bool:
    """An ARN pattern: wildcards stay inside a colon-separated segment unless they end it."""
    if pattern == "*":
        return True
    regex = _glob(pattern, context, arn=pattern.startswith("arn:"))
    return regex is not None and re.fullmatch(regex, resource, re.DOTALL) is not None


# --- policy variables and globs ------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERALS = {"*": "*", "?": "?", "$": "$"}


def _variable(body: str, context: Context) -> str | None:
    """The value of `${body}`: a literal, a single-valued key, or the default after a comma."""
    if body in _LITERALS:
        return _LITERALS[body]
    key, comma, default = body.partition(",")
    values = context.get(key.strip().lower())
    if values and len(values) == 1:
        return values[0]
    if comma:
        default = default.strip()
        if len(default) >= 2 and default[0] == default[-1] == "'":
            return default[1:-1]
        raise PolicyError(f"policy variable default must be quoted: ${{{body}}}")
    return None


def substitute(text: str, context: Context) -> str | None:
    """`text` with its policy variables replaced; None when one has no value."""
    out: list[str] = []
    last = 0
    for found in _VARIABLE.finditer(text):
        value = _variable(found.group(1), context)
        if value is None:
            return None
        out += [text[last : found.start()], value]
        last = found.end()
    out.append(text[last:])
    return "".join(out)


def _glob(pattern: str, context: Context, *, arn: bool = False) -> str | None:
    """A regex for a wildcard pattern; substituted variable values match literally.

    In an ARN pattern a `*` stays inside its colon-separated segment unless it ends the
    segment (or sits in the sixth, the resource part), as the Resource element documents.
    """
    masked = _VARIABLE.sub(lambda found: "x" * len(found.group(0)), pattern)  # colons of `${aws:...}` are not ARN's
    parts: list[str] = []
    last = 0

    def wildcards(start: int, end: int) -> str:
        out = []
        for i in range(start, end):
            char = pattern[i]
            if char == "*":
                inside = arn and masked[i + 1 : i + 2] not in ("", ":") and masked.count(":", 0, i) < 5
                out.append("[^:]*" if inside else ".*")
            else:
                out.append("." if char == "?" else re.escape(char))
        return "".join(out)

    for found in _VARIABLE.finditer(pattern):
        parts.append(wildcards(last, found.start()))
        value = _variable(found.group(1), context)
        if value is None:
            return None
        parts.append(re.escape(value))
        last = found.end()
    parts.append(wildcards(last, len(pattern)))
    return "".join(parts)


# --- conditions ----------------------------------------------------------------------------


def _conditions(statement: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    conditions = statement.get("Condition") or {}
    if not isinstance(conditions, Mapping) or not all(isinstance(v, Mapping) for v in conditions.values()):
        raise PolicyError("Condition must map operators to {key: values}")
    return conditions


def condition_keys(conditions: Mapping[str, Mapping[str, Any]]) -> set[str]:
    return {key for block in conditions.values() for key in block}


@dataclass(frozen=True)
class Operator:
    """One parsed condition operator: `[ForAnyValue:|ForAllValues:]<Name>[IfExists]`."""

    name: str
    qualifier: str | None
    if_exists: bool
    negated: bool
    match: Matcher

    @classmethod
    def parse(cls, text: str) -> Operator:
        qualifier, _, name = text.rpartition(":")
        if qualifier and qualifier.lower() not in ("foranyvalue", "forallvalues"):
            raise PolicyError(f"unknown condition set operator {qualifier!r}")
        if_exists = name.lower().endswith("ifexists") and name.lower() != "ifexists"
        base = name[: -len("IfExists")] if if_exists else name
        key = base.lower()
        if key == "null":
            return cls("Null", None, False, False, _never)
        if key not in _MATCHERS:
            raise PolicyError(f"unknown condition operator {text!r}")
        canonical, negated, match = _MATCHERS[key]
        return cls(canonical, qualifier.lower() or None, if_exists, negated, match)


def conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    """Every operator's every key must hold (values of one key are alternatives)."""
    for op_text, block in conditions.items():
        operator = Operator.parse(op_text)
        for key, wanted in block.items():
            if not _holds(operator, key, _values(wanted), context):
                return False
    return True


def _holds(operator: Operator, key: str, wanted: list[str], context: Context) -> bool:
    present = context.get(key.lower())
    if operator.name == "Null":
        absent = not present
        return any((w.lower() == "true") == absent for w in wanted)
    if not present:
        if operator.if_exists or operator.qualifier == "forallvalues":
            return True
        return operator.negated and operator.qualifier is None

    def one(value: str) -> bool:
        hit = any(_safe(operator.match, value, pattern, context) for pattern in wanted)
        return not hit if operator.negated else hit

    if operator.qualifier == "forallvalues" or (operator.negated and operator.qualifier is None):
        return all(one(v) for v in present)
    return any(one(v) for v in present)



def _safe(match: Matcher, value: str, pattern: str, context: Context) -> bool:
    try:
        return match(value, pattern, context)
    except (ValueError, TypeError, binascii.Error):
        return False  # a value that does not parse as the operator's type never matches


def _never(value: str, pattern: str, context: Context) -> bool:
    return False


def _substituted(test: Callable[[str, str], bool]) -> Matcher:
    """A matcher comparing with the policy value after its variables are replaced."""

    def match(value: str, pattern: str, context: Context) -> bool:
        wanted = substitute(pattern, context)
        return wanted is not None and test(value, wanted)

    return match


def _string_like(value: str, pattern: str, context: Context) -> bool:
    regex = _glob(pattern, context)
    return regex is not None and re.fullmatch(regex, value, re.DOTALL) is not None


def _arn_like(value: str, pattern: str, context: Context) -> bool:
    """Each of the six colon-separated parts matches separately, wildcards allowed in each."""
    got, want = value.split(":", 5), pattern.split(":", 5)
    if len(got) != 6 or len(want) != 6:
        return False
    for have, part in zip(got, want, strict=True):
        regex = _glob(part, context)
        if regex is None or re.fullmatch(regex, have, re.DOTALL) is None:
            return False
    return True


def _number(text: str) -> float:
    return float(text)


def _date(text: str) -> datetime:
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(convert: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Matcher:
    return _substituted(lambda value, pattern: test(convert(value), convert(pattern)))


def _in_network(value: str, pattern: str) -> bool:
    return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)


def _binary(value: str, pattern: str) -> bool:
    return base64.b64decode(value, validate=True) == base64.b64decode(pattern, validate=True)


def _family(names: dict[str, Matcher], negations: dict[str, str]) -> dict[str, tuple[str, bool, Matcher]]:
    table = {name.lower(): (name, False, match) for name, match in names.items()}
    table.update({negated.lower(): (negated, True, names[positive]) for negated, positive in negations.items()})
    return table


_MATCHERS = _family(
    {
        "StringEquals": _substituted(lambda v, p: v == p),
        "StringEqualsIgnoreCase": _substituted(lambda v, p: v.casefold() == p.casefold()),
        "StringLike": _string_like,
        "NumericEquals": _compare(_number, lambda a, b: a == b),
        "NumericLessThan": _compare(_number, lambda a, b: a < b),
        "NumericLessThanEquals": _compare(_number, lambda a, b: a <= b),
        "NumericGreaterThan": _compare(_number, lambda a, b: a > b),
        "NumericGreaterThanEquals": _compare(_number, lambda a, b: a >= b),
        "DateEquals": _compare(_date, lambda a, b: a == b),
        "DateLessThan": _compare(_date, lambda a, b: a < b),
        "DateLessThanEquals": _compare(_date, lambda a, b: a <= b),
        "DateGreaterThan": _compare(_date, lambda a, b: a > b),
        "DateGreaterThanEquals": _compare(_date, lambda a, b: a >= b),
        "Bool": _substituted(lambda v, p: v.lower() == p.lower()),
        "BinaryEquals": _substituted(_binary),
        "IpAddress": _substituted(_in_network),
        "ArnLike": _arn_like,
        "ArnEquals": _arn_like,
    },
    {
        "StringNotEquals": "StringEquals",
        "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
        "StringNotLike": "StringLike",
        "NumericNotEquals": "NumericEquals",
        "DateNotEquals": "DateEquals",
        "NotIpAddress": "IpAddress",
        "ArnNotLike": "ArnLike",
        "ArnNotEquals": "ArnEquals",
    },
)
