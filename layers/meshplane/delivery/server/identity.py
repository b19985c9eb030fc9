"""Who is on the other end of a stream: the proxy named by `node.id`.

A node id is whatever the client says, so it is bounded before anything is looked up
with it: at most `MAX_NODE_ID` characters and names App Mesh allows (`MAX_NAME`), else
INVALID_ARGUMENT.  An ARN must be of the server's own partition, region and account
(`MeshAccount`): App Mesh names are unique only within one account and region, so a
foreign ARN is PERMISSION_DENIED, never the local proxy of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from envoy.config.core.v3.base_pb2 import Node

from meshplane.identity.account import ForeignNode, MeshAccount
from meshplane.model.addresses import shown
from meshplane.model.ids import ProxyId

MAX_NAME = 255  # App Mesh's limit on mesh, virtual node and virtual gateway names
# Above the longest well-formed id: an ARN in a long partition and region naming two names of MAX_NAME.
MAX_NODE_ID = 1024


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


def identify(node: Node, account: MeshAccount | None = None) -> Identity:
    """Parse the first request's node.

    A missing, oversized or malformed id is INVALID_ARGUMENT; with `account`,
    an ARN of another partition, region or account is PERMISSION_DENIED (without it, any ARN is taken).
    """
    node_id = node.id
    if not node_id:
        raise StreamError(grpc.StatusCode.INVALID_ARGUMENT, "the first xDS request must carry node.id")
    if len(node_id) > MAX_NODE_ID:
        raise StreamError(grpc.StatusCode.INVALID_ARGUMENT,
                          f"node.id has {len(node_id)} characters; a proxy's id has at most {MAX_NODE_ID}")
    try:
        proxy = ProxyId.parse(node_id) if account is None else account.proxy(node_id)
    except ForeignNode as foreign:
        raise StreamError(grpc.StatusCode.PERMISSION_DENIED, f"{foreign}: this server does not serve it") from None
    except ValueError:
        raise StreamError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"node.id {shown(node_id)} is not a proxy; expected mesh/<mesh>/virtualNode/<name>, "
            "mesh/<mesh>/virtualGateway/<name> or its ARN",
        ) from None
    if len(proxy.mesh) > MAX_NAME or len(proxy.name) > MAX_NAME:
        raise StreamError(grpc.StatusCode.INVALID_ARGUMENT, f"node.id names a mesh or proxy over {MAX_NAME} characters")
    return Identity(node_id, proxy)


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
