"""meshplane extensions beyond App Mesh, driven by resource tags so the App Mesh wire format
stays exactly as it is (any App Mesh client can set them with `tags` / `TagResource`).

Virtual node tags (apply to every caller's cluster for that node):
- `meshplane.io/lb-policy`: `ROUND_ROBIN` (App Mesh's behaviour and the default),
  `LEAST_REQUEST`, `RANDOM`, `RING_HASH` or `MAGLEV`.  App Mesh roadmap #237.
- `meshplane.io/hash-header`: with `RING_HASH`/`MAGLEV`, requests carrying the same value of
  this header go to the same instance (sticky sessions, roadmap #323).

Route tags (HTTP-family routes; apply to the callers' egress route):
- `meshplane.io/fault-abort-percent` (0-100) with `meshplane.io/fault-abort-status`
  (HTTP status, default 503): that share of requests is answered with the status.
- `meshplane.io/fault-delay-ms` with `meshplane.io/fault-delay-percent` (default 100):
  that share of requests waits first.  Fault injection, roadmap #36.

A value that does not parse is reported in `ProxyView.problems` and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from meshplane.model.state import EXTENSION_TAG_PREFIX

PREFIX = EXTENSION_TAG_PREFIX
LB_POLICY = PREFIX + "lb-policy"
HASH_HEADER = PREFIX + "hash-header"
ABORT_PERCENT = PREFIX + "fault-abort-percent"
ABORT_STATUS = PREFIX + "fault-abort-status"
DELAY_MS = PREFIX + "fault-delay-ms"
DELAY_PERCENT = PREFIX + "fault-delay-percent"

LB_POLICIES = frozenset({"ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"})
HASHING = frozenset({"RING_HASH", "MAGLEV"})

Report = Callable[[str], None]


@dataclass(frozen=True)
class Balancing:
    """How callers spread requests over a virtual node's instances."""

    policy: str
    hash_header: str | None = None


@dataclass(frozen=True)
class Fault:
    """Faults a route injects at the caller (percentages are of all requests on the route)."""

    abort_percent: float = 0.0
    abort_status: int = 503
    delay_ms: int = 0
    delay_percent: float = 100.0


def _number(tags: Mapping[str, str], key: str, low: float, high: float, report: Report) -> float | None:
    raw = tags.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        report(f"tag {key}={raw!r} must be a number from {low:g} to {high:g}")
        return None
    return value


def balancing(tags: Mapping[str, str], where: str, report: Report) -> Balancing | None:
    policy = tags.get(LB_POLICY)
    if policy is None:
        return None
    if policy not in LB_POLICIES:
        report(f"{where}: tag {LB_POLICY}={policy!r} is not one of {sorted(LB_POLICIES)}")
        return None
    header = tags.get(HASH_HEADER)
    if header is not None and policy not in HASHING:
        report(f"{where}: tag {HASH_HEADER} needs {LB_POLICY} RING_HASH or MAGLEV")
        header = None
    return Balancing(policy, header.lower() if header else None)


def fault(tags: Mapping[str, str], where: str, report: Report) -> Fault | None:
    def note(message: str) -> None:
        report(f"{where}: {message}")

    abort = _number(tags, ABORT_PERCENT, 0, 100, note)
    status = _number(tags, ABORT_STATUS, 200, 599, note)
    delay = _number(tags, DELAY_MS, 0, 3_600_000, note)
    delay_share = _number(tags, DELAY_PERCENT, 0, 100, note)
    if not abort and not delay:
        return None
    return Fault(
        abort_percent=abort or 0.0,
        abort_status=int(status) if status is not None else 503,
        delay_ms=int(delay or 0),
        delay_percent=delay_share if delay_share is not None else 100.0,
    )
