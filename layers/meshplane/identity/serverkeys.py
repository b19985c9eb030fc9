"""The server's own TLS key pair, for both of its ports: issued by the node CA and renewed, or given as files.

An issued pair is renewed once half its lifetime is over; the gRPC port asks on every
handshake (`grpc.dynamic_ssl_server_credentials`) and the exchange port builds a new
`ssl.SSLContext` per generation, so renewal needs no restart and drops no connection.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cryptography import x509

from meshplane.identity.ca import KeyPair, NodeCA

SERVER_CERT_LIFETIME = dt.timedelta(days=7)


class ServerKeys(Protocol):
    def current(self) -> tuple[int, KeyPair]:
        """(generation, pair): the generation changes whenever the pair does."""
        ...


class IssuedServerKeys:
    def __init__(self, ca: NodeCA, name: str, lifetime: dt.timedelta = SERVER_CERT_LIFETIME,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:  # fmt: skip
        self._ca, self._name, self._lifetime, self._clock = ca, name, lifetime, clock
        self._lock = threading.Lock()
        self._generation = 0
        self._pair = ca.issue_server(name, lifetime, clock())

    def current(self) -> tuple[int, KeyPair]:
        with self._lock:
            now = self._clock()
            if now >= self._pair.not_before + (self._pair.not_after - self._pair.not_before) / 2:
                self._pair = self._ca.issue_server(self._name, self._lifetime, now)
                self._generation += 1
            return self._generation, self._pair


class FileServerKeys:
    """`--tls-cert/--tls-key` as given (a certificate from elsewhere, renewed by restarting)."""

    def __init__(self, cert: Path, key: Path) -> None:
        chain = cert.read_bytes()
        leaf = x509.load_pem_x509_certificate(chain)
        self._pair = KeyPair(chain, key.read_bytes(), leaf.not_valid_before_utc, leaf.not_valid_after_utc)

    def current(self) -> tuple[int, KeyPair]:
        return 0, self._pair


def server_context(pair: KeyPair) -> ssl.SSLContext:
    """A TLS 1.2+ server context for the pair (the ssl module loads keys from files only: a private temp dir)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="meshplane-tls-") as directory:
        cert, key = Path(directory, "cert.pem"), Path(directory, "key.pem")
        cert.write_bytes(pair.chain)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pair.key)
        context.load_cert_chain(cert, key)
    return context


class ContextCache:
    """The SSLContext of the current key pair, rebuilt only when the generation moves on."""

    def __init__(self, keys: ServerKeys) -> None:
        self._keys = keys
        self._lock = threading.Lock()
        self._built: tuple[int, ssl.SSLContext] | None = None

    def context(self) -> ssl.SSLContext:
        generation, pair = self._keys.current()
        with self._lock:
            if self._built is None or self._built[0] != generation:
                self._built = (generation, server_context(pair))
            return self._built[1]
