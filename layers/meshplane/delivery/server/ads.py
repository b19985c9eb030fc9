"""gRPC wiring: the ADS servicer from xds-protos, served by grpc.aio.

Responses are pre-serialised bytes (see `prepared.py`), so the method handlers
use a pass-through serializer instead of the generated one.

TLS: `TlsFiles` serves given files; `NodeIdentityTls` serves the key pair the node CA
issued to the server (renewed without a restart) and, with node identity required,
accepts only client certificates of that CA. A stream's `node.id` must then be the node
its certificate names (`authorize`), and the certificate's principal must still be
allowed to be that node when the stream opens (`NodeAuthorizer`, cached): taking the
IAM permission away closes the door within the cache lifetime, and an expired
certificate never gets past the TLS handshake.

A servicer may also have an `admission` (`StreamAdmission`), asked before a stream reads
anything and again once its node is known: the App Mesh image's port (`appmesh_compat.py`);
and a `transform` of its streams' views (`StreamTransform`): local runs' bind addresses
(`localbind.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol, cast

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest
from google.protobuf.message import Message

from meshplane.delivery.cache import SnapshotCache
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.server.delta import DeltaProtocol
from meshplane.delivery.server.identity import Identity, StreamError, authorize
from meshplane.delivery.server.limits import Context, ServerLimits
from meshplane.delivery.server.sotw import SotwProtocol
from meshplane.delivery.server.stream import Stream, StreamProtocol, StreamTransform
from meshplane.delivery.status.report import Recorder
from meshplane.identity.account import MeshAccount
from meshplane.identity.authorization import NodeAuthorizer
from meshplane.identity.ca import KeyPair
from meshplane.identity.sans import node_sans, principal_sans
from meshplane.identity.serverkeys import ServerKeys

log = logging.getLogger(__name__)

SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"


@dataclass(frozen=True)
class TlsFiles:
    cert: str
    key: str
    client_ca: str | None = None

    def credentials(self) -> grpc.ServerCredentials:
        def read(path: str) -> bytes:
            with open(path, "rb") as handle:
                return handle.read()

        root = read(self.client_ca) if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(read(self.key), read(self.cert))], root_certificates=root, require_client_auth=root is not None
        )


class NodeIdentityTls:
    """The server's issued key pair, looked up on every handshake so a renewal needs no restart."""

    def __init__(self, keys: ServerKeys, client_roots: bytes, require_client_auth: bool) -> None:
        self._keys = keys
        self._roots = client_roots
        self._require = require_client_auth
        self._served = -1

    def _configuration(self, pair: KeyPair) -> grpc.ServerCertificateConfiguration:
        roots = self._roots if self._require else None
        return grpc.ssl_server_certificate_configuration([(pair.key, pair.chain)], root_certificates=roots)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        generation, pair = self._keys.current()
        if generation == self._served:
            return None  # gRPC keeps the configuration it has
        self._served = generation
        return self._configuration(pair)

    def credentials(self) -> grpc.ServerCredentials:
        generation, pair = self._keys.current()
        self._served = generation
        # grpc documents a fetcher's None as "no change"; its type stubs leave None out.
        fetch = cast(Callable[[], grpc.ServerCertificateConfiguration], self._fetch)
        return grpc.dynamic_ssl_server_credentials(self._configuration(pair), fetch,
                                                   require_client_authentication=self._require)  # fmt: skip


class ServerTls(Protocol):
    def credentials(self) -> grpc.ServerCredentials: ...


class StreamAdmission(Protocol):
    """Checks of a port's own; each refuses by raising StreamError."""

    async def admit(self, context: Context) -> None: ...

    def check_node(self, identity: Identity) -> None: ...


def _peer_uris(context: Context) -> list[str]:
    return [uri.decode() for uri in context.auth_context().get("peer_uri", [])]


class AdsServicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]  # generated, untyped
    """Both ADS variants over one cache; tracks open streams so shutdown can end them."""

    def __init__(self, cache: SnapshotCache, metrics: Metrics, verify_client_identity: bool = False,
                 account: MeshAccount | None = None, authorizer: NodeAuthorizer | None = None,
                 home: MeshAccount | None = None, admission: StreamAdmission | None = None,
                 transform: StreamTransform | None = None, recorder: Recorder | None = None) -> None:  # fmt: skip
        """`home`: whose node ARNs streams may name when `account` (node identity's) is not given;
        `recorder`: where the streams' Envoy status goes (`delivery.status`; None: not recorded)."""
        self._cache = cache
        self._metrics = metrics
        self._verify = verify_client_identity
        self._account = account
        self._home = account or home
        self._authorizer = authorizer
        self._admission = admission
        self._transform = transform
        self._recorder = recorder
        self._streams: set[Stream] = set()

    async def _check_principal(self, uris: list[str]) -> None:
        """A node certificate names one node and one principal; IAM must still let that principal be that node.

        Only the node CA puts a principal in a certificate, and it always does; one without
        comes from the extra client CA (`--tls-client-ca`), whose own issuance stands in for IAM.
        """
        assert self._authorizer is not None
        nodes, principals = node_sans(uris), principal_sans(uris)
        if not principals:
            return
        if len(nodes) != 1 or len(principals) != 1:
            raise StreamError(grpc.StatusCode.PERMISSION_DENIED,
                              "the client certificate must name one node and one IAM principal")  # fmt: skip
        if not await self._authorizer.allowed_async(principals[0], nodes[0]):
            raise StreamError(grpc.StatusCode.PERMISSION_DENIED,
                              f"{principals[0]} may not appmesh:StreamAggregatedResources on {nodes[0]}")  # fmt: skip

    def close_streams(self) -> int:
        streams = list(self._streams)
        for stream in streams:
            stream.close()
        return len(streams)

    async def StreamAggregatedResources(
        self, request_iterator: AsyncIterator[DiscoveryRequest], context: Context
    ) -> AsyncIterator[bytes]:
        async for out in self._serve(request_iterator, context, SotwProtocol):
            yield out

    async def DeltaAggregatedResources(
        self, request_iterator: AsyncIterator[DeltaDiscoveryRequest], context: Context
    ) -> AsyncIterator[bytes]:
        async for out in self._serve(request_iterator, context, DeltaProtocol):
            yield out

    async def _serve(
        self, requests: AsyncIterator[Message], context: Context, make_protocol: type[StreamProtocol]
    ) -> AsyncIterator[bytes]:
        stream = Stream(self._cache, self._metrics, self._home, self._transform, self._recorder, context.peer())
        self._streams.add(stream)
        self._metrics.streams_open += 1
        self._metrics.streams_total += 1

        uris = _peer_uris(context) if self._verify else []

        def check_peer(identity: Identity) -> None:
            if self._verify:
                authorize(uris, identity, self._account)
            if self._admission is not None:
                self._admission.check_node(identity)

        try:
            if self._admission is not None:
                await self._admission.admit(context)
            if self._verify and self._authorizer is not None:
                await self._check_principal(uris)
            async for out in stream.run(requests, make_protocol, check_peer):
                yield out
        except StreamError as exc:
            self._metrics.rejected_streams += 1
            log.warning("rejecting stream from %s: %s", context.peer(), exc.message)
            await context.abort(exc.code, exc.message)
        finally:
            self._streams.discard(stream)
            self._metrics.streams_open -= 1


def _passthrough(response: object) -> bytes:
    return response if isinstance(response, bytes) else response.SerializeToString()  # type: ignore[attr-defined]


def generic_handler(servicer: AdsServicer) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                servicer.StreamAggregatedResources,
                request_deserializer=DiscoveryRequest.FromString,
                response_serializer=_passthrough,
            ),
            "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
                servicer.DeltaAggregatedResources,
                request_deserializer=DeltaDiscoveryRequest.FromString,
                response_serializer=_passthrough,
            ),
        },
    )


class AdsServer:
    """A grpc.aio server hosting the ADS servicer, with graceful drain."""

    def __init__(self, servicer: AdsServicer, tls: ServerTls | None = None, limits: ServerLimits | None = None) -> None:
        self._servicer = servicer
        self._tls = tls
        self._limits = limits or ServerLimits()
        self._server: grpc.aio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Bind and start; returns the bound port (useful with port 0)."""
        server = grpc.aio.server(options=[("grpc.max_concurrent_streams", 100_000), *self._limits.options()],
                                 interceptors=self._limits.interceptors())
        server.add_generic_rpc_handlers((generic_handler(self._servicer),))
        address = f"{host}:{port}"
        bound = (
            server.add_secure_port(address, self._tls.credentials()) if self._tls else server.add_insecure_port(address)
        )
        await server.start()
        self._server = server
        return bound

    async def stop(self, grace: float) -> None:
        """Refuse new streams, end open ones cleanly, then cancel whatever is left after `grace`."""
        if self._server is None:
            return
        started = time.monotonic()
        stopping = asyncio.ensure_future(self._server.stop(grace))
        await asyncio.sleep(0)
        open_streams = self._servicer.close_streams()
        await stopping
        self._server = None
        log.info("closed %d streams in %.2fs", open_streams, time.monotonic() - started)
