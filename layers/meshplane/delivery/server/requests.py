"""What a stream accepts from a client before any of it is kept: type URLs, subscriptions, nonces.

A request is whatever the client sends; a stream's protocol state lives as long as the
stream, so everything a request adds to it is bounded here.

Type URLs, and why an unknown one is answered rather than ending the stream: an empty
type URL is INVALID_ARGUMENT, as go-control-plane answers it ("type URL is required for
ADS"), and so is one that is not a type URL at all.  A well-formed URL of a type this
server does not serve (an RTDS layer or VHDS over ADS in a user's bootstrap) is answered
with an empty response, "no such resources": go-control-plane opens a watch that its
snapshot never fills, which leaves the client waiting with no answer, and ending the
stream instead would take every other type down with it on each reconnect.  The client
ACKs the empty answer with its nonce, which is not answered again.  A stream may ask for
at most `MAX_UNSERVED_TYPES` such types.

Subscriptions: names the node's snapshot has are bounded by the snapshot.  Names it does
not have cost memory for nothing, so a stream may hold at most `MAX_ABSENT_NAMES` of them
per type, else RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import grpc
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryResponse, DiscoveryResponse

from meshplane.delivery.server.identity import StreamError
from meshplane.model.addresses import shown
from meshplane.snapshot.types import XdsType

TYPE_URL_PREFIX = "type.googleapis.com/"
MAX_TYPE_URL = 256
MAX_UNSERVED_TYPES = 8
MAX_ABSENT_NAMES = 1024


def served_type(type_url: str) -> XdsType | None:
    """The type a request asks for; None for a well-formed type this server does not serve."""
    if not type_url:
        raise StreamError(grpc.StatusCode.INVALID_ARGUMENT, "type URL is required for ADS")
    try:
        return XdsType.from_type_url(type_url)
    except ValueError:
        pass
    name = type_url.removeprefix(TYPE_URL_PREFIX)
    bare = name.replace(".", "").replace("_", "")
    if len(type_url) > MAX_TYPE_URL or name == type_url or not (bare.isascii() and bare.isalnum()):
        raise StreamError(grpc.StatusCode.INVALID_ARGUMENT, f"{shown(type_url)} is not a type URL")
    return None


def check_absent(type_url: str, names: Iterable[str], available: Collection[str] = ()) -> None:
    """RESOURCE_EXHAUSTED when a subscription holds more names the snapshot lacks than a stream may keep."""
    asked = names if isinstance(names, (set, frozenset)) else set(names)
    absent = len(asked.difference(available))  # C-level on both sides: a subscription may name 10,000
    if absent > MAX_ABSENT_NAMES:
        raise StreamError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"subscribed to {absent} names of {shown(type_url)} this proxy does not have; at most {MAX_ABSENT_NAMES}",
        )


class Unserved:
    """The types of one stream that this server does not serve, and the nonce of each one's empty answer."""

    def __init__(self) -> None:
        self._nonces: dict[str, str] = {}

    def answer(self, type_url: str, response_nonce: str, next_nonce: str) -> str | None:
        """The nonce of a new empty answer to this request, or None when it ACKs or NACKs the last one."""
        last = self._nonces.get(type_url)
        if last is not None and response_nonce == last:
            return None
        if last is None and len(self._nonces) >= MAX_UNSERVED_TYPES:
            raise StreamError(grpc.StatusCode.INVALID_ARGUMENT,
                              f"more than {MAX_UNSERVED_TYPES} resource types this server does not serve")
        self._nonces[type_url] = next_nonce
        return next_nonce


def empty_sotw(type_url: str, nonce: str) -> bytes:
    response: bytes = DiscoveryResponse(type_url=type_url, nonce=nonce).SerializeToString()
    return response


def empty_delta(type_url: str, removed: Iterable[str], nonce: str) -> bytes:
    """Every subscribed name is reported removed: none of them exists here."""
    response = DeltaDiscoveryResponse(type_url=type_url, removed_resources=sorted(removed), nonce=nonce)
    serialized: bytes = response.SerializeToString()
    return serialized


def issued(nonce: str, last: int) -> bool:
    """Whether `nonce` is one this stream sent: its nonces are the decimal integers 1 to `last`."""
    return nonce.isascii() and nonce.isdigit() and len(nonce) <= 19 and 0 < int(nonce) <= last
