"""The proxy's side of the exchange: one HTTPS POST, trusting only the meshplane node CA.

The connection goes to the exchange's address and is verified against the server name
(the NLB's DNS name), which may differ from the address dialled (a private IP, loopback).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from meshplane.identity.proof import CREDENTIALS_PATH, Proof

TIMEOUT_S = 10.0
MAX_ANSWER = 64 * 1024


class ExchangeRefused(Exception):
    """The exchange answered with an error (App Mesh's shape: status, type, message)."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(f"{status} {error_type}: {message}")
        self.status, self.error_type, self.message = status, error_type, message


@dataclass(frozen=True)
class Issued:
    chain: str
    ca_bundle: str
    expires_at: float


class _Connection(http.client.HTTPSConnection):
    def __init__(self, address: tuple[str, int], server_name: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(address[0], address[1], timeout=timeout, context=context)
        self._server_name = server_name
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self._server_name)


def client_context(ca_pem: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def request_credentials(address: tuple[str, int], server_name: str, ca_pem: bytes, node_id: str, csr_pem: str,
                        proof: Proof, timeout: float = TIMEOUT_S) -> Issued:  # fmt: skip
    body = json.dumps({"nodeId": node_id, "csr": csr_pem, "proof": proof.model_dump()}).encode()
    connection = _Connection(address, server_name, client_context(ca_pem), timeout)
    try:
        connection.request("POST", CREDENTIALS_PATH, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        document: Any = json.loads(response.read(MAX_ANSWER) or b"{}")
    finally:
        connection.close()
    if response.status != 200:
        raise ExchangeRefused(response.status, response.getheader("x-amzn-ErrorType") or "",
                              str(document.get("message", "")))  # fmt: skip
    return Issued(document["certificateChain"], document["caBundle"], float(document["expiresAt"]))
