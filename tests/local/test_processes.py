"""Waiting for an endpoint: an answer of any kind counts (a dead one: test_local_up)."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from meshplane.localnet import processes
from support.pki import TestCA


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server whose certificate no trust store holds, as an emulator with a self-signed one."""
    leaf = TestCA(tmp_path / "pki").issue("emulator", dns=["localhost"], ips=["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf.chain, leaf.key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_https_endpoint_with_an_untrusted_certificate_counts_as_answering(tls_endpoint: str) -> None:
    processes.wait_http(f"{tls_endpoint}/moto-api/", timeout=3)

