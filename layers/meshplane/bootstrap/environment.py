"""Strict reading of the App Mesh image's environment variables.

A variable that is set but malformed is an error naming the variable and its value, never a silent
default: a task definition with `ENVOY_STATS_FLUSH_INTERVAL=10` (no unit) must not start an Envoy
that quietly flushes every 5 s.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

# Go's strconv.ParseBool (what the App Mesh image accepted) plus yes/no/on/off.
_TRUE = frozenset({"1", "t", "true", "yes", "on"})
_FALSE = frozenset({"0", "f", "false", "no", "off"})
# Go's time.ParseDuration units, in nanoseconds.
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}  # fmt: skip
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Seconds of a Go duration (`10s`, `1m30s`, `250ms`, `0`); ValueError otherwise."""
    body = text.strip()
    if body == "0":
        return 0.0
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    position, total = 0, 0.0
    for match in _DURATION.finditer(body):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not body or position != len(body):
        raise ValueError(f"{text!r} is not a Go duration such as 10s, 1m30s or 250ms")
    return sign * total / 1e9


def split_host_port(value: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address as (host, port or None)."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            raise ValueError(f"{value!r} is not host:port")
    elif text.count(":") > 1:  # an IPv6 address without a port
        host, port = text, None
    else:
        host, _, port = text.partition(":") if ":" in text else (text, "", None)
    if not host:
        raise ValueError(f"{value!r} names no host")
    if port is None:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} has no valid port")
    return host, int(port)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Environment:
    """Typed reads of one environment; each raises ValueError with a one-line `NAME='value': why` message."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str) -> str | None:
        """The value, or None when unset or blank (the App Mesh image treated blank as unset)."""
        return (self._env.get(name) or "").strip() or None

    def text_or(self, name: str, default: str) -> str:
        return self.text(name) or default

    def is_set(self, name: str) -> bool:
        return self.text(name) is not None

    def fail(self, name: str, why: str) -> ValueError:
        return ValueError(f"{name}={self._env.get(name, '')!r}: {why}")

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise self.fail(name, "must be a boolean (1/0, true/false)")

    def _number(self, name: str, convert: Callable[[str], float], why: str, fits: Callable[[float], bool]) -> Any:
        """None when unset; the converted value when it converts and `fits`; else ValueError saying `why`."""
        value = self.text(name)
        if value is None:
            return None
        try:
            number = convert(value)
        except ValueError:
            raise self.fail(name, why) from None
        if not (math.isfinite(number) and fits(number)):
            raise self.fail(name, why)
        return number

    def integer(self, name: str, default: int | None, *, low: int, high: int) -> int | None:
        number = self._number(name, int, f"must be an integer from {low} to {high}", lambda n: low <= n <= high)
        return default if number is None else number

    def port(self, name: str, default: int, *, allow_zero: bool = False) -> int:
        port = self.integer(name, default, low=0 if allow_zero else 1, high=65535)
        assert port is not None
        return port

    def fraction(self, name: str, default: float) -> float:
        number = self._number(name, float, "must be a decimal between 0 and 1", lambda n: 0.0 <= n <= 1.0)
        return default if number is None else number

    def seconds(self, name: str) -> float | None:
        number: float | None = self._number(name, float, "must be a number of seconds, 0 or more", lambda n: n >= 0)
        return number

    def duration(self, name: str, *, low: float, high: float) -> float | None:
        """A Go duration in seconds, within [low, high]."""
        why = f"must be a Go duration such as 10s, 1m30s or 250ms, from {low * 1000:g}ms to {high:g}s"
        seconds: float | None = self._number(name, parse_go_duration, why, lambda n: low <= n <= high)
        return seconds

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}")
        return value.lower()
