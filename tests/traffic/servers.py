"""Raw TCP and TLS servers for egress and TLS-origination tests: echo, server-speaks-first, SNI recorder."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading

from support import Leaf, TcpServer

BANNER = b"220 banner.local ESMTP ready\r\n"


class BannerServer(TcpServer):
    """Speaks first: greets every connection with `BANNER` before reading anything."""

    def handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.sendall(BANNER)
            conn.settimeout(5)
            conn.recv(1)  # hold the connection until the client hangs up


class TlsEchoServer(TcpServer):
    """Terminates TLS with `leaf` and answers every line `x` with `<name> x`.

    Records the SNI of every ClientHello (None when the client sent none), so a test can
    assert what name a proxy asked for.
    """

    def __init__(self, name: str, host: str, port: int, leaf: Leaf) -> None:
        super().__init__(name, host, port)
        self.server_names: list[str | None] = []
        self._seen = threading.Lock()
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(str(leaf.chain), str(leaf.key))
        self._context.sni_callback = self._record

    def _record(self, _sock: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
        with self._seen:
            self.server_names.append(server_name)

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with contextlib.suppress(OSError):  # a failed handshake closes the connection
            tls = self._context.wrap_socket(conn, server_side=True)
            with tls, tls.makefile("rwb") as stream:
                for line in stream:
                    stream.write(self.name.encode() + b" " + line)
                    stream.flush()
