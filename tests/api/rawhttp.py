"""Raw HTTP/1.1 over a socket, for tests that send what no HTTP client library would."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    """One HTTP response as received: status, lower-cased headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(address: tuple[str, int], data: bytes, *, half_close: bool = False,
             timeout: float = 10.0) -> list[Answer]:
    """Send `data`, read until the server closes, and return every response in order (1xx ones included).

    `half_close` ends the sending side first, so a server waiting for more of a body sees the end of it.
    A server that neither answers nor closes within `timeout` raises TimeoutError.
    """
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return parse(received)


def final(answers: list[Answer]) -> Answer:
    """The first response that is not an interim (1xx) one."""
    return next(answer for answer in answers if answer.status >= 200)


def parse(stream: bytes) -> list[Answer]:
    """The responses in `stream`, each framed by its Content-Length; an unparsable rest raises ValueError."""
    answers = []
    while stream:
        head, separator, rest = stream.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError(f"a response without the end of its headers: {stream[:200]!r}")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = status_line.split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.x status line: {status_line!r}")
        headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
        length = int(headers.get("content-length", "0"))
        answers.append(Answer(int(status), headers, rest[:length]))
        stream = rest[length:]
    return answers
