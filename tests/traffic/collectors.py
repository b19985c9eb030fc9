"""Stand-ins for the trace and stats collectors a sidecar reports to, on loopback.

- `XRayDaemon`: UDP, each datagram a `{"format": "json", "version": 1}` header line and one segment;
- `HttpCollector`: a Datadog agent (`/v0.4/traces`, msgpack) or a Zipkin/Jaeger collector
  (`/api/v2/spans`, JSON or protobuf); Envoy's async client sends chunked bodies;
- `DatagramSink`: a DogStatsD server on UDP or a Unix datagram socket.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class XRayDaemon:
    """Collects the segments Envoy's X-Ray tracer sends to `address` over UDP."""

    def __init__(self, host: str, port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, port))
        self._socket.settimeout(0.2)
        self.address: tuple[str, int] = self._socket.getsockname()
        self.segments: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self._socket.recv(65535)
            except TimeoutError:
                continue
            header, _, body = datagram.partition(b"\n")
            assert json.loads(header) == {"format": "json", "version": 1}, datagram[:200]
            self.segments.append(json.loads(body))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


@dataclass(frozen=True)
class Post:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("transfer-encoding", "").lower() != "chunked":
        return handler.rfile.read(int(handler.headers.get("content-length") or 0))
    body = bytearray()
    while True:
        size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            handler.rfile.readline()
            return bytes(body)
        body += handler.rfile.read(size)
        handler.rfile.readline()


@dataclass
class HttpCollector:
    """Records every POST/PUT; answers 200 with the empty sampling-rate document a Datadog agent sends."""

    host: str
    posts: list[Post] = field(default_factory=list)
    _server: ThreadingHTTPServer = field(init=False)

    def __post_init__(self) -> None:
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                posts.append(Post(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                  _read_body(self)))  # fmt: skip
                answer = b'{"rate_by_service": {}}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_PUT = _record

            def do_GET(self) -> None:
                self.send_error(404)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def to(self, path: str) -> list[Post]:
        return [p for p in list(self.posts) if p.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class DatagramSink:
    """Keeps every datagram sent to it: a DogStatsD server on UDP (`udp`) or a Unix datagram socket (`unix`).

    A Unix datagram socket queues only a few datagrams (net.unix.max_dgram_qlen, 10 by default) and Envoy
    drops what does not fit, so counting flushes needs the UDP one.
    """

    def __init__(self, sock: socket.socket, address: Any) -> None:
        self._socket = sock
        self._socket.bind(address)
        self._socket.settimeout(0.2)
        self.address = self._socket.getsockname()
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @classmethod
    def udp(cls, host: str) -> DatagramSink:
        return cls(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), (host, 0))

    @classmethod
    def unix(cls, path: Path) -> DatagramSink:
        return cls(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), str(path))

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                self.datagrams.append(self._socket.recv(65535))

    def lines(self) -> Iterator[str]:
        for datagram in list(self.datagrams):
            yield from datagram.decode().splitlines()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


def msgpack(data: bytes) -> Any:
    """Decode one MessagePack value: the subset Datadog traces use (maps, arrays, strings, numbers, nil, bools)."""
    value, end = _unpack(data, 0)
    assert end == len(data), "trailing bytes after the msgpack value"
    return value


_FIXED = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
          0xCA: ">f", 0xCB: ">d"}  # fmt: skip
_SIZED = {0xD9: (">B", "str"), 0xDA: (">H", "str"), 0xDB: (">I", "str"), 0xC4: (">B", "bin"), 0xC5: (">H", "bin"),
          0xC6: (">I", "bin"), 0xDC: (">H", "array"), 0xDD: (">I", "array"), 0xDE: (">H", "map"),
          0xDF: (">I", "map")}  # fmt: skip


def _unpack(data: bytes, at: int) -> tuple[Any, int]:
    tag = data[at]
    at += 1
    if tag <= 0x7F:
        return tag, at
    if tag >= 0xE0:
        return tag - 0x100, at
    if 0xA0 <= tag <= 0xBF:
        return _sized("str", tag & 0x1F, data, at)
    if 0x90 <= tag <= 0x9F:
        return _sized("array", tag & 0x0F, data, at)
    if 0x80 <= tag <= 0x8F:
        return _sized("map", tag & 0x0F, data, at)
    if tag in (0xC0, 0xC2, 0xC3):
        return {0xC0: None, 0xC2: False, 0xC3: True}[tag], at
    if tag in _FIXED:
        fmt = _FIXED[tag]
        return struct.unpack_from(fmt, data, at)[0], at + struct.calcsize(fmt)
    fmt, kind = _SIZED[tag]
    (size,) = struct.unpack_from(fmt, data, at)
    return _sized(kind, size, data, at + struct.calcsize(fmt))


def _sized(kind: str, size: int, data: bytes, at: int) -> tuple[Any, int]:
    if kind in ("str", "bin"):
        raw = data[at : at + size]
        return (raw.decode() if kind == "str" else raw), at + size
    items = []
    for _ in range(size * (2 if kind == "map" else 1)):
        item, at = _unpack(data, at)
        items.append(item)
    if kind == "map":
        return dict(zip(items[::2], items[1::2], strict=True)), at
    return items, at
