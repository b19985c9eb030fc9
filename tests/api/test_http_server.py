"""The local HTTP server answers every request, in App Mesh's error shape, and never waits forever.

Framing problems never reach the API handler: a Content-Length that is not a
number (or negative, or beyond the body cap), a chunked body, a body shorter
than announced, a malformed request line or header block.  Each gets a 4xx with
`x-amzn-ErrorType: BadRequestException` and a JSON message, then the
connection closes; a client that stalls is answered once the read timeout passes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from meshplane.api.app import Api
from meshplane.api.http import serve_in_thread
from meshplane.api.strict_json import MAX_BODY_BYTES

from . import rawhttp
from .rawhttp import Answer, final

READ_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(stack: Any) -> Iterator[tuple[str, int]]:
    """The stack's store behind a server with a short read timeout, so a stall is answered quickly."""
    http, thread = serve_in_thread(Api(stack.store), read_timeout=READ_TIMEOUT)
    host, port = http.server_address[:2]
    yield str(host), int(port)
    http.shutdown()
    http.server_close()
    thread.join(timeout=5)


def exchange(server: tuple[str, int], data: bytes, *, half_close: bool = False) -> Answer:
    """The server's final answer to raw `data`, read until it closes the connection."""
    return final(rawhttp.exchange(server, data, half_close=half_close))


def request(target: str = "/v20190125/meshes", *headers: str, method: str = "PUT", body: bytes = b"") -> bytes:
    return "\r\n".join([f"{method} {target} HTTP/1.1", "Host: api", *headers, "", ""]).encode() + body


def assert_refused(answer: Answer, status: int, says: str) -> None:
    assert answer.status == status, (answer.status, answer.body[:200])
    assert answer.headers["x-amzn-errortype"] == "BadRequestException"
    assert answer.headers["connection"] == "close"
    assert answer.headers["content-type"] == "application/json"
    assert says in answer.json()["message"]


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "+5", "0x10", "", "5 5", "1" * 25])
def test_a_content_length_that_is_not_a_number_is_answered_400(server: tuple[str, int], value: str) -> None:
    answer = exchange(server, request("/v20190125/meshes", f"Content-Length: {value}", body=b"{}"))
    assert_refused(answer, 400, "Content-Length")


def test_two_different_content_lengths_are_answered_400(server: tuple[str, int]) -> None:
    answer = exchange(server, request("/v20190125/meshes", "Content-Length: 2", "Content-Length: 3", body=b"{}"))
    assert_refused(answer, 400, "more than once")


def test_a_huge_content_length_is_answered_413_at_once_without_reading(server: tuple[str, int]) -> None:
    started = time.monotonic()
    answer = exchange(server, request("/v20190125/meshes", "Content-Length: 99999999999999", body=b"{}"))
    assert_refused(answer, 413, f"at most {MAX_BODY_BYTES}")
    assert time.monotonic() - started < READ_TIMEOUT


def test_a_body_over_the_cap_is_answered_413_after_it_is_sent(server: tuple[str, int]) -> None:
    """The server reads and drops it, so a client that writes the whole body first still reads the answer."""
    body = b" " * (MAX_BODY_BYTES + 1)
    answer = exchange(server, request("/v20190125/meshes", f"Content-Length: {len(body)}", body=body))
    assert_refused(answer, 413, "bytes, at most")


def test_boto3_sees_an_oversized_request_as_bad_request(stack: Any, server: tuple[str, int]) -> None:
    loose = stack.appmesh(parameter_validation=False)
    loose._endpoint.host = f"http://{server[0]}:{server[1]}"
    with pytest.raises(loose.exceptions.BadRequestException, match="at most"):
        loose.create_mesh(meshName="big", spec={"egressFilter": {"type": "x" * (MAX_BODY_BYTES + 1)}})


def test_a_chunked_body_is_answered_411(server: tuple[str, int]) -> None:
    answer = exchange(server, request("/v20190125/meshes", "Transfer-Encoding: chunked", body=b"2\r\n{}\r\n0\r\n\r\n"))
    assert_refused(answer, 411, "Transfer-Encoding")


def test_a_body_shorter_than_announced_is_answered_400_when_the_client_stops_sending(server: tuple[str, int]) -> None:
    answer = exchange(server, request("/v20190125/meshes", "Content-Length: 100", body=b'{"meshName"'),
                      half_close=True)
    assert_refused(answer, 400, "before the connection closed")


def test_a_stalled_body_is_answered_408_after_the_read_timeout(server: tuple[str, int]) -> None:
    started = time.monotonic()
    answer = exchange(server, request("/v20190125/meshes", "Content-Length: 100", body=b'{"meshName"'))
    assert_refused(answer, 408, "not received within")
    assert READ_TIMEOUT <= time.monotonic() - started < READ_TIMEOUT + 5


def test_expect_100_continue_is_refused_before_the_body_when_it_would_be_too_large(server: tuple[str, int]) -> None:
    answer = exchange(server, request("/v20190125/meshes", "Content-Length: 99999999", "Expect: 100-continue"))
    assert_refused(answer, 413, "at most")


@pytest.mark.parametrize(("raw", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /v20190125/meshes HTTP/2.0\r\nHost: api\r\n\r\n", 400),  # http.server's own answer is 505
    (b"GET /v20190125/meshes HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET /v20190125/meshes HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431),
    (b"GET /v20190125/meshes HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET /v20190125/meshes/a#b HTTP/1.1\r\nHost: api\r\n\r\n", 400),
    (b"GET /v20190125/meshes/a\x01b HTTP/1.1\r\nHost: api\r\n\r\n", 400),
    (b"GET http://elsewhere/v20190125/meshes HTTP/1.1\r\nHost: api\r\n\r\n", 400),
])
def test_malformed_request_lines_and_headers_get_app_mesh_errors(server: tuple[str, int], raw: bytes,
                                                                 status: int) -> None:
    answer = exchange(server, raw)
    assert answer.status == status, (answer.status, answer.body[:200])
    assert answer.headers["x-amzn-errortype"] == "BadRequestException"
    assert answer.json()["message"]


@pytest.mark.parametrize("method", ["FOO", "OPTIONS", "TRACE", "CONNECT"])
def test_any_method_reaches_the_api_which_answers_not_found(server: tuple[str, int], method: str) -> None:
    """http.server answers an unknown method with 501, a 5xx for a client's mistake."""
    answer = exchange(server, request("/v20190125/meshes", "Content-Length: 0", "Connection: close", method=method))
    assert answer.status == 404 and answer.headers["x-amzn-errortype"] == "NotFoundException"
    assert method in answer.json()["message"]


def test_a_connection_survives_a_refused_body_and_serves_the_next_request(server: tuple[str, int]) -> None:
    """A BadRequest from the API (the body was read) keeps the connection; framing errors close it."""
    first = request("/v20190125/meshes", "Content-Length: 2", body=b"[]")
    second = request("/v20190125/meshes", "Content-Length: 0", "Connection: close", method="GET")
    assert [answer.status for answer in rawhttp.exchange(server, first + second)] == [400, 200]
