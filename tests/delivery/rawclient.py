"""A raw ADS client: speaks SotW or Delta like Envoy would, but lets a test say anything."""

from __future__ import annotations

import queue
import threading
from typing import Any

import grpc
from envoy.config.core.v3.base_pb2 import Node
from envoy.service.discovery.v3 import ads_pb2_grpc
from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryRequest,
    DeltaDiscoveryResponse,
    DiscoveryRequest,
    DiscoveryResponse,
)

_END = object()


class RawStream:
    def __init__(self, address: str, *, delta: bool = False, credentials: grpc.ChannelCredentials | None = None,
                 authority: str | None = None) -> None:  # fmt: skip
        options = [("grpc.ssl_target_name_override", authority)] if authority else []
        self._channel = (
            grpc.secure_channel(address, credentials, options) if credentials else grpc.insecure_channel(address)
        )
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self._channel)
        self._requests: queue.Queue[Any] = queue.Queue()
        self._responses: queue.Queue[Any] = queue.Queue()
        call = stub.DeltaAggregatedResources if delta else stub.StreamAggregatedResources
        self._call = call(iter(self._requests.get, _END))
        self.error: grpc.RpcError | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for response in self._call:
                self._responses.put(response)
        except grpc.RpcError as error:
            self.error = error
        self._responses.put(_END)

    def send(self, request: DiscoveryRequest | DeltaDiscoveryRequest) -> None:
        self._requests.put(request)

    def recv(self, timeout: float = 5.0) -> Any:
        item = self._responses.get(timeout=timeout)
        if item is _END:
            raise EOFError(f"stream ended: {self.error}")
        return item

    def nothing_within(self, seconds: float) -> bool:
        try:
            item = self._responses.get(timeout=seconds)
        except queue.Empty:
            return True
        self._responses.put(item)
        return False

    def drain(self, quiet: float) -> tuple[list[Any], grpc.StatusCode | None]:
        """The responses that come until `quiet` seconds pass without one, and the status if the stream ended."""
        received: list[Any] = []
        while True:
            try:
                item = self._responses.get(timeout=quiet)
            except queue.Empty:
                return received, None
            if item is _END:
                self._responses.put(_END)  # a later drain or status sees the end too
                return received, self.error.code() if self.error else grpc.StatusCode.OK
            received.append(item)

    def status(self, timeout: float = 5.0) -> grpc.StatusCode:
        """Wait for the stream to end and return its status code."""
        while True:
            item = self._responses.get(timeout=timeout)
            if item is _END:
                return self.error.code() if self.error else grpc.StatusCode.OK

    def close(self) -> None:
        self._requests.put(_END)
        self._call.cancel()
        self._channel.close()


def sotw(type_url: str, node_id: str = "", names: tuple[str, ...] = (), version: str = "", nonce: str = "",
         error: str | None = None, bind: str | None = None) -> DiscoveryRequest:  # fmt: skip
    request = DiscoveryRequest(type_url=type_url, resource_names=list(names), version_info=version,
                               response_nonce=nonce)  # fmt: skip
    if node_id:
        request.node.CopyFrom(_node(node_id, bind))
    if error is not None:
        request.error_detail.message = error
        request.error_detail.code = 3
    return request


def delta(type_url: str, node_id: str = "", subscribe: tuple[str, ...] = (), unsubscribe: tuple[str, ...] = (),
          nonce: str = "", error: str | None = None,
          initial: dict[str, str] | None = None) -> DeltaDiscoveryRequest:  # fmt: skip
    request = DeltaDiscoveryRequest(type_url=type_url, resource_names_subscribe=list(subscribe),
                                    resource_names_unsubscribe=list(unsubscribe), response_nonce=nonce,
                                    initial_resource_versions=initial or {})  # fmt: skip
    if node_id:
        request.node.CopyFrom(_node(node_id, None))
    if error is not None:
        request.error_detail.message = error
    return request


def _node(node_id: str, bind: str | None) -> Node:
    node = Node(id=node_id)
    if bind:
        node.metadata.update({"BIND_ADDRESS": bind})
    return node


def names(response: DiscoveryResponse | DeltaDiscoveryResponse) -> list[str]:
    """Resource names in a response (decoded from the Any payloads)."""
    from meshplane.snapshot.registry import message_class
    from meshplane.snapshot.types import XdsType

    cls = message_class(XdsType.from_type_url(response.type_url))
    out = []
    for item in response.resources:
        packed = item.resource if isinstance(response, DeltaDiscoveryResponse) else item
        message = cls()
        packed.Unpack(message)
        out.append(message.name if hasattr(message, "name") and message.name else message.cluster_name)
    return sorted(out)
