"""Who is on the other end of a stream: the proxy named by `node.id`, and its bind address."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from envoy.config.core.v3.base_pb2 import Node

from meshplane.model.ids import ProxyId

BIND_ADDRESS_KEY = "BIND_ADDRESS"


class StreamError(Exception):
    """Ends a stream with a gRPC status that Envoy logs verbatim."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Identity:
    node_id: str
    proxy: ProxyId
    bind: str | None


def identify(node: Node) -> Identity:
    """Parse the first request's node; a missing or foreign id is INVALID_ARGUMENT."""
    if not node.id:
        raise StreamError(grpc.StatusCode.INVALID_ARGUMENT, "the first xDS request must carry node.id")
    try:
        proxy = ProxyId.parse(node.id)
    except ValueError as exc:
        raise StreamError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{exc}; expected mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> or its ARN",
        ) from None
    bind_value = node.metadata.fields.get(BIND_ADDRESS_KEY)
    bind = bind_value.string_value if bind_value is not None and bind_value.string_value else None
    return Identity(node.id, proxy, bind)


def check_same_node(identity: Identity, node: Node) -> None:
    """Envoy may repeat the node on later requests; it must never change within a stream."""
    if node.id and node.id != identity.node_id:
        raise StreamError(
            grpc.StatusCode.PERMISSION_DENIED,
            f"stream opened as {identity.node_id} cannot request resources of {node.id}",
        )


def authorize(peer_identities: list[str], identity: Identity) -> None:
    """With client TLS, the certificate must name this proxy (path or ARN) in a SAN."""
    wanted = {identity.node_id, identity.proxy.path}
    if not any(peer in wanted or peer.endswith(":" + identity.proxy.path) for peer in peer_identities):
        raise StreamError(
            grpc.StatusCode.PERMISSION_DENIED,
            f"client certificate does not identify {identity.proxy.path}",
        )
