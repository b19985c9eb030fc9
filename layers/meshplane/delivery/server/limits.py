"""Bounds on what one client can make the ADS server hold: request size and streams per peer address.

A stream costs memory and, for a node not yet in memory, a read of the snapshot store;
a request is held whole while it is parsed.  gRPC itself refuses a request over
`max_request_bytes` with RESOURCE_EXHAUSTED.  Streams are counted per peer address (the
host, whatever its port): one host runs a few Envoys, each with one ADS stream, so a
host holding more than `max_streams_per_peer` open streams is misbehaving, and its next
stream ends at once with RESOURCE_EXHAUSTED while the server keeps serving everyone else.
The bench's and tests' thousands of streams from one loopback address fit the default.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import grpc

from meshplane.delivery.limits_defaults import MAX_REQUEST_BYTES, MAX_STREAMS_PER_PEER

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ServerLimits:
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_streams_per_peer: int = MAX_STREAMS_PER_PEER  # 0: no bound

    def options(self) -> list[tuple[str, int]]:
        return [("grpc.max_receive_message_length", self.max_request_bytes)]

    def interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return [PeerStreams(self.max_streams_per_peer)] if self.max_streams_per_peer > 0 else []


def peer_host(peer: str) -> str:
    """`ipv4:10.0.0.1:5000` -> `ipv4:10.0.0.1`, `ipv6:[::1]:5000` -> `ipv6:[::1]`; anything else as it is."""
    kind, _, address = peer.partition(":")
    if kind in ("ipv4", "ipv6") and ":" in address:
        return f"{kind}:{address.rsplit(':', 1)[0]}"
    return peer


# Strings: grpc's classes are generic only in its type stubs.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Behavior: TypeAlias = "Callable[[Any, Context], AsyncGenerator[Any, None]]"


class PeerStreams(grpc.aio.ServerInterceptor):
    """Counts the open streaming calls of each peer host and refuses those beyond the bound."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: Counter[str] = Counter()
        self.refused = 0

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.stream_stream is None:
            return handler
        return grpc.stream_stream_rpc_method_handler(
            # The stubs type a handler's behaviour as synchronous; under grpc.aio it is an async generator.
            self._bounded(cast(Behavior, handler.stream_stream)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _bounded(self, behavior: Behavior) -> Behavior:
        async def bounded(requests: Any, context: Context) -> AsyncGenerator[Any, None]:
            host = peer_host(context.peer())
            if self._open[host] >= self._limit:
                self.refused += 1
                if self.refused & (self.refused - 1) == 0:  # the 1st, 2nd, 4th, 8th... refusal: never a log flood
                    log.warning("refused %d streams so far; %s holds %d open", self.refused, host, self._open[host])
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    f"{self._limit} streams are open from this address; no more are served")
            self._open[host] += 1
            try:
                async with contextlib.aclosing(behavior(requests, context)) as outs:  # its cleanup runs now
                    async for out in outs:
                        yield out
            finally:
                self._open[host] -= 1
                if not self._open[host]:
                    del self._open[host]

        return bounded
