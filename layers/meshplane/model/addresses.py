"""Which addresses, ports and host names an Envoy accepts for an upstream endpoint.

One rule for two places.  The event edges (ECS events, the ECS reconcile, Cloud Map
instances) apply it to what AWS or a caller hands them, which nothing upstream has
validated; the publish-time consistency check applies it again to every snapshot, so
an address stored some other way still never reaches an Envoy.  Envoy rejects a whole
EDS update over one bad address, so one bad endpoint would freeze a caller's view of
every other endpoint.

Only the standard library is imported: the event handlers load this on a cold start.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Literal

# The longest textual IP address: an IPv6 address with an embedded IPv4 part.
MAX_ADDRESS_LENGTH = 45
MAX_HOSTNAME_LENGTH = 253
MAX_PORT = 65535
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")

Family = Literal[4, 6]


class InvalidAddress(ValueError):
    """An address, port or host name no Envoy would accept; the message says which and why."""


def shown(value: object, limit: int = 64) -> str:
    """`value` for a log line or an error message: hostile input can be kilobytes long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def ip_address(value: object, family: Family | None = None) -> str:
    """The canonical text of an IP address an endpoint can have (of `family` if given).

    Refused beyond what is not an address at all (which Envoy refuses): a scoped IPv6 address
    (`fe80::1%eth0` names an interface of the host that registered it, not one its callers
    have), the unspecified address and multicast addresses.  Envoy loads those, but no
    endpoint is there to connect to.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"{shown(value)} is not an IP address")
    return _checked_ip(value, family)


@functools.lru_cache(maxsize=65536)
def _checked_ip(value: str, family: Family | None) -> str:
    """`ip_address` past its type and length check, kept per value: a shard publishes a hundred proxies
    whose snapshots carry mostly the same endpoints, each checked at publish (`snapshot.consistency`).
    Refusals raise, and so are never kept."""
    try:
        parsed = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidAddress(f"{shown(value)} is not an IP address") from None
    if family is not None and parsed.version != family:
        raise InvalidAddress(f"{shown(value)} is not an IPv{family} address")
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.scope_id:
        raise InvalidAddress(f"{shown(value)} is a scoped IPv6 address")
    if parsed.is_unspecified or parsed.is_multicast:
        raise InvalidAddress(f"{shown(value)} is not a unicast address")
    return str(parsed)


def port(value: object) -> int:
    """A TCP port an endpoint can listen on: an integer (or its decimal text) from 1 to 65535."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PORT:
        raise InvalidAddress(f"{shown(value)} is not a port from 1 to {MAX_PORT}")
    return value


def hostname(value: object) -> str:
    """A DNS name Envoy can resolve (or an IP address, which a DNS cluster also takes)."""
    if not isinstance(value, str) or not value or len(value) > MAX_HOSTNAME_LENGTH + 1:
        raise InvalidAddress(f"{shown(value)} is not a host name")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return ip_address(value)
    name = value.removesuffix(".")
    labels = name.split(".")
    if len(name) > MAX_HOSTNAME_LENGTH or not all(map(_LABEL.fullmatch, labels)) or labels[-1].isdigit():
        raise InvalidAddress(f"{shown(value)} is not a host name")  # an all-digit last label is a mistyped IP
    return value
