"""A small SDS server on a Unix socket, like the SPIRE agent App Mesh used for `sds` certificates.

It serves `StreamSecrets` (the SotW SDS Envoy uses with `api_type: GRPC`) from a fixed
set of `Secret` protos, answers each new subscription once and records what it served,
so a test can prove that Envoy really fetched its certificate from here.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest, DiscoveryResponse
from envoy.service.secret.v3 import sds_pb2_grpc

SECRET_TYPE_URL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


def tls_secret(name: str, chain_pem: bytes, key_pem: bytes) -> Secret:
    secret = Secret(name=name)
    secret.tls_certificate.certificate_chain.inline_bytes = chain_pem
    secret.tls_certificate.private_key.inline_bytes = key_pem
    return secret


def validation_secret(name: str, ca_pem: bytes) -> Secret:
    secret = Secret(name=name)
    secret.validation_context.trusted_ca.inline_bytes = ca_pem
    return secret


class SdsServicer(sds_pb2_grpc.SecretDiscoveryServiceServicer):
    def __init__(self, secrets: dict[str, Secret]) -> None:
        self._secrets = secrets
        self._lock = threading.Lock()
        self.served: list[str] = []  # secret names, in the order they were sent
        self.acked: list[str] = []  # nonces Envoy acknowledged

    def StreamSecrets(
        self, request_iterator: Iterator[DiscoveryRequest], context: grpc.ServicerContext
    ) -> Iterator[DiscoveryResponse]:
        nonce, subscribed = 0, frozenset[str]()
        for request in request_iterator:
            names = frozenset(request.resource_names)
            if request.response_nonce == str(nonce) and names == subscribed:
                if not request.HasField("error_detail"):
                    with self._lock:
                        self.acked.append(request.response_nonce)
                continue
            subscribed, nonce = names, nonce + 1
            response = DiscoveryResponse(version_info="1", type_url=SECRET_TYPE_URL, nonce=str(nonce))
            for name in sorted(names & self._secrets.keys()):
                response.resources.add().Pack(self._secrets[name])
                with self._lock:
                    self.served.append(name)
            yield response


class SdsServer:
    """`SdsServicer` on `unix:<socket>`; the socket lives in a short private directory (108-byte limit)."""

    def __init__(self, secrets: dict[str, Secret]) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="sds-", dir="/tmp")
        self.socket = Path(self._dir.name) / "sds.sock"
        self.servicer = SdsServicer(secrets)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        sds_pb2_grpc.add_SecretDiscoveryServiceServicer_to_server(self.servicer, self._server)
        self._server.add_insecure_port(f"unix:{self.socket}")

    def __enter__(self) -> SdsServer:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop(grace=None)
        self._dir.cleanup()
