"""Who is on the other end of a stream: the proxy named by `node.id`, and its bind address."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from envoy.config.core.v3.base_pb2 import Node

from meshplane.identity.account import MeshAccount
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


def authorize(peer_uris: list[str], identity: Identity, account: MeshAccount | None = None) -> None:
    """With client TLS, a URI SAN of the certificate must name this proxy.

    With node identity (`account` given) the proxy's name is its ARN in the server's own
    partition, region and account, or its path: a SAN or node id naming the same path in
    another account or region identifies nothing. A certificate of another CA
    (`--tls-client-ca` alone) may name the path or any ARN of it: that CA's issuance
    decides.
    """
    proxy = identity.proxy
    if account is not None:
        arn = account.node_arn(proxy)
        if identity.node_id.startswith("arn:") and identity.node_id != arn:
            foreign = f"{identity.node_id} is not a node of account {account.account} in {account.region}"
            raise StreamError(grpc.StatusCode.PERMISSION_DENIED, foreign)
        named = {arn, proxy.path}.intersection(peer_uris)
    else:
        named = {u for u in peer_uris if u == proxy.path or (u.startswith("arn:") and _names(u, proxy))}
    if not named:
        raise StreamError(
            grpc.StatusCode.PERMISSION_DENIED,
            f"client certificate does not identify {proxy.path}",
        )


def _names(arn: str, proxy: ProxyId) -> bool:
    try:
        return ProxyId.parse(arn) == proxy
    except ValueError:
        return False
