"""Local runs only: each stream's views rebound to the loopback address its node names.

Several sidecars share one host in local runs and tests, so each gets its own 127.x
address (node metadata `BIND_ADDRESS`, which `meshplane bootstrap --bind-address`
sets): its listeners bind there and its own app is reached there
(`snapshot.transform.bind_to`).  A server listening on a loopback address can only have
such clients, so that is where this transform applies (`for_host`); a production
server, listening on every interface, neither reads the metadata nor rebinds anything,
and its cache holds each node's snapshot once, as published.
"""

from __future__ import annotations

import ipaddress

import grpc
from envoy.config.core.v3.base_pb2 import Node

from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.delivery.server.identity import StreamError
from meshplane.model.addresses import InvalidAddress, ip_address
from meshplane.snapshot.transform import bind_to

BIND_ADDRESS_KEY = "BIND_ADDRESS"
_LOCAL_HOSTS = frozenset({"localhost"})


def for_host(host: str) -> LocalBind | None:
    """The stream transform of a server listening on `host`: the local rebind on a loopback address, else none."""
    if host in _LOCAL_HOSTS:
        return LocalBind()
    try:
        return LocalBind() if ipaddress.ip_address(host).is_loopback else None
    except ValueError:  # a host name other than localhost: not a local run
        return None


class LocalBind:
    """Reads a stream's bind address from its first request's node."""

    def for_node(self, node: Node) -> Bound | None:
        """The stream's rebind, or None when its node names no bind address; a malformed one is INVALID_ARGUMENT."""
        value = node.metadata.fields.get(BIND_ADDRESS_KEY)
        if value is None or not value.string_value:
            return None
        try:
            return Bound(ip_address(value.string_value))
        except InvalidAddress as invalid:
            message = f"node.metadata.{BIND_ADDRESS_KEY}: {invalid}"
            raise StreamError(grpc.StatusCode.INVALID_ARGUMENT, message) from None


class Bound:
    """One stream's views rebound to `address`, each made once per view the cache hands out.

    The cache hands out the same view until its node changes, and a stream holds at most
    the current view and, while an Envoy reconnects across a change, the previous one.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        self._made: list[tuple[PreparedSnapshot, PreparedSnapshot]] = []  # (cached view, rebound), newest last

    def __call__(self, view: PreparedSnapshot) -> PreparedSnapshot:
        for cached, bound in self._made:
            if cached is view:
                return bound
        bound = PreparedSnapshot.of(bind_to(view.snapshot, self.address))
        self._made = [*self._made[-1:], (view, bound)]
        return bound
