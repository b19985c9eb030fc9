"""Property-based fuzz of the raw HTTP API of a running `meshplane local up`, as an outside prober sends it.

test_fuzz.py throws malformed bodies at each operation of the in-process
server.  This module takes the outside view: hypothesis drives raw
`http.client` requests (SigV4-signed by botocore, as any client signs them) and
raw sockets at the API a user runs with `meshplane local up`: hostile names in
bodies, URI labels and references, JSON nested to any depth, bodies that are
not UTF-8 JSON objects, garbage in the query string, and Content-Length,
Transfer-Encoding and header games.  Every case asserts an App Mesh-shaped 4xx
(never a 5xx), an answer within a socket timeout (never a hang), and, after
each property, that the list calls show the state they showed before.
"""

from __future__ import annotations

import base64
import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from meshplane.api.routes import Operation, operations
from meshplane.model import names

from . import rawhttp
from .hostile import API, NAMED, build_world, state

pytestmark = pytest.mark.emulator

SOCKET_TIMEOUT = 20.0  # far beyond any answer; a server that holds a request this long has hung
FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SIGNER = SigV4Auth(Credentials("testing", "testing"), "appmesh", "us-east-1")
WRITES = [op for op in operations() if op.method in ("PUT", "POST", "DELETE") and op.body_members]
LISTS = [op for op in operations() if op.name.startswith("List")]
LABELS = {"meshName": "{mesh}", "virtualRouterName": "r", "virtualGatewayName": "gw", "virtualNodeName": "n",
          "virtualServiceName": "svc.local", "routeName": "x", "gatewayRouteName": "x"}


@dataclass(frozen=True)
class World:
    """The local up API and a mesh holding what the fuzzed requests name."""

    host: str
    port: int
    mesh: str
    arn: str
    client: Any

    def state(self) -> dict[str, Any]:
        return state(self.client, self.mesh)

    def path(self, op: Operation) -> str:
        """`op`'s path with every label naming something in the world mesh."""
        template = op.pattern.pattern.strip("^$").replace("\\", "")
        for label, value in LABELS.items():
            template = template.replace(f"(?P<{label}>[^/]+)", value.format(mesh=self.mesh))
        return template


@pytest.fixture(scope="module")
def world(local_stack: Any) -> Iterator[World]:
    client = local_stack.appmesh()
    mesh = f"fuzz-http-{uuid.uuid4().hex[:8]}"
    arn = build_world(client, mesh)
    parts = urlsplit(local_stack.api_url)
    yield World(str(parts.hostname), int(parts.port or 80), mesh, arn, client)


def send(world: World, method: str, target: str, body: bytes = b"") -> rawhttp.Answer:
    """One request as a client sends it: SigV4-signed by botocore, written by http.client, within SOCKET_TIMEOUT."""
    request = AWSRequest(method=method, url=f"http://{world.host}:{world.port}{target}", data=body,
                         headers={"Content-Type": "application/json"})
    SIGNER.add_auth(request)
    connection = http.client.HTTPConnection(world.host, world.port, timeout=SOCKET_TIMEOUT)
    try:
        connection.request(method, target, body=body, headers=dict(request.headers.items()))
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return rawhttp.Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)


def assert_client_error(answer: rawhttp.Answer, context: Any) -> None:
    """A 4xx in App Mesh's shape: the modelled error type and a JSON message."""
    assert 400 <= answer.status < 500, (answer.status, answer.body[:300], context)
    assert answer.headers.get("x-amzn-errortype", "").endswith("Exception"), (answer.headers, context)
    assert answer.json()["message"], context


@pytest.fixture
def unchanged(world: World) -> Iterator[None]:
    """The property's requests store nothing: the list calls show the same state after it as before."""
    before = world.state()
    yield
    assert world.state() == before


# --- strategies: every value below is one App Mesh refuses ------------------------------------------

SAFE = "abcdefghijklmnopqrstuvwxyz0123456789-_"
REFUSED_CHARS = ["\x00", "\t", "\r", "\n", "\x7f", "\u202e", "\ufeff", "\u200b", "\u00a0", "*", "?", "/", "#",
                 " ", "%", "$", "{", ":", "\\", "\U0001F600", "\u00e9"]
hostile_names = st.one_of(
    st.tuples(st.text(SAFE, min_size=1, max_size=12), st.sampled_from(REFUSED_CHARS),
              st.text(SAFE, max_size=12)).map("".join),
    st.tuples(st.text(SAFE, min_size=1, max_size=8), st.text(SAFE, max_size=8)).map(lambda t: f"{t[0]}..{t[1]}"),
    st.sampled_from([".", "..", "-rf", ".hidden", "\U0001F600" * 255, "a" * 256, "b" * 5_000]),
    st.text(min_size=1, max_size=40).filter(lambda name: names.problem(name) is not None),
)
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)


def nested(depth: int, kind: str) -> bytes:
    opening, closing = {"list": (b"[", b"]"), "object": (b'{"a":', b"}")}[kind]
    return opening * depth + b"0" + closing * depth


def garbage_bodies(op: Operation) -> st.SearchStrategy[bytes]:
    """Bodies `op` must refuse: not JSON, not UTF-8, not an object, deep, NaN, duplicate or unknown keys, bad tokens."""
    member = st.sampled_from(sorted(op.body_members))
    return st.one_of(
        st.binary(min_size=1, max_size=64).filter(_not_utf8),
        st.tuples(st.integers(900, 100_000), st.sampled_from(["list", "object"]), member).map(
            lambda t: b'{"' + t[2].encode() + b'":' + nested(t[0], t[1]) + b"}"),
        st.tuples(member, st.sampled_from([b"NaN", b"Infinity", b"-Infinity"])).map(
            lambda t: b'{"' + t[0].encode() + b'":' + t[1] + b"}"),
        st.tuples(member, json_values, json_values).map(
            lambda t: b'{"%s":%s,"%s":%s}' % (t[0].encode(), json.dumps(t[1]).encode(), t[0].encode(),
                                              json.dumps(t[2]).encode())),
        (json_scalars | st.lists(json_values, max_size=3)).map(lambda v: json.dumps(v).encode()),
        st.text(min_size=1, max_size=10).map(lambda k: json.dumps({f"zz{k}": 1}).encode()),
        st.one_of(st.integers(37, 600_000).map(lambda n: "t" * n), st.text(min_size=37, max_size=60),
                  st.text(min_size=1, max_size=20).filter(lambda t: not t.isascii() or " " in t)).map(
            lambda token: json.dumps({"clientToken": token}).encode()),
        st.integers(20, 4_200).map(lambda digits: b'{"spec":{"listeners":[{"portMapping":{"port":'
                                   + b"9" * digits + b',"protocol":"http"}}]}}'),
    ).filter(lambda body: _refused_member(op, body))


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _refused_member(op: Operation, body: bytes) -> bool:
    """Keep bodies whose clientToken/spec case applies to `op` (the others are garbage to every operation)."""
    if body.startswith(b'{"clientToken"'):
        return "clientToken" in op.body_members
    if body.startswith(b'{"spec"'):
        return "spec" in op.body_members
    return True


# --- properties --------------------------------------------------------------------------------


@FUZZ
@given(case=st.sampled_from(NAMED), name=hostile_names)
@example(case=NAMED[1], name="\U0001F600" * 255)  # the probes' 1,020-byte node name
@example(case=NAMED[0], name="a\x00b")
@example(case=NAMED[1], name="front-*")
def test_hostile_names_in_bodies_labels_and_references_are_bad_requests(world: World, unchanged: None,
                                                                         case: Any, name: str) -> None:
    _, field, request_of = case
    method, path, body = request_of(world.mesh, name)
    data = b"" if body is None else json.dumps(body).encode()
    answer = send(world, method, path, data)
    assert_client_error(answer, (field, name[:80]))
    assert answer.status == 400 and answer.json()["message"].startswith(f"{field}:"), (answer.body[:300], name[:80])


@FUZZ
@given(data=st.data())
def test_garbage_bodies_at_every_write_are_client_errors(world: World, unchanged: None, data: Any) -> None:
    op = data.draw(st.sampled_from(WRITES), label="operation")
    body = data.draw(garbage_bodies(op), label="body")
    query = f"?{urlencode({'resourceArn': world.arn})}" if "resourceArn" in op.query_members else ""
    answer = send(world, op.method, world.path(op) + query, body)
    assert_client_error(answer, (op.name, body[:120]))


@FUZZ
@given(data=st.data())
def test_garbage_queries_at_every_list_are_client_errors(world: World, unchanged: None, data: Any) -> None:
    op = data.draw(st.sampled_from(LISTS), label="operation")
    garbage = st.one_of(
        st.fixed_dictionaries({"limit": st.one_of(st.integers(max_value=0), st.integers(min_value=101),
                                                  st.text(max_size=12).filter(lambda t: not t.isascii()
                                                                              or not t.isdigit())).map(str)}),
        st.fixed_dictionaries({"nextToken": st.one_of(
            st.text(min_size=1, max_size=300),
            st.integers(500, 20_000).map(lambda n: base64.urlsafe_b64encode(b"[" * n).decode()),
        )}),
        st.dictionaries(st.text(min_size=1, max_size=30).filter(lambda k: k not in op.query_members),
                        st.text(max_size=30), min_size=1, max_size=3),
    )
    params = {**({"resourceArn": world.arn} if "resourceArn" in op.query_members else {}),
              **data.draw(garbage, label="query")}
    answer = send(world, "GET", world.path(op) + "?" + urlencode(params, quote_via=quote))
    assert_client_error(answer, (op.name, params))


request_targets = st.sampled_from([f"{API}/meshes", f"{API}/meshes/{{mesh}}/virtualNodes",
                                   f"{API}/meshes/{{mesh}}/virtualRouter/r/routes"])
header_lines = st.lists(st.one_of(
    st.sampled_from(["Transfer-Encoding: chunked", "Transfer-Encoding: gzip, chunked", "Expect: 100-continue",
                     "Connection: keep-alive", "Content-Type: text/plain", "Content-Encoding: gzip",
                     "Content-Length: 3", "X-Amzn-ErrorType: InternalServerErrorException"]),
    st.tuples(st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20),
              st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)).map(
        lambda t: f"X-{t[0]}: {t[1]}"),
), max_size=4)
content_lengths = st.one_of(
    st.none(), st.integers(0, 200).map(str), st.integers(-(10**20), -1).map(str),
    st.sampled_from(["abc", "1.5", "+5", "0x10", "", " ", "99999999999999", "1" * 30, "5, 5", "\u00bd"]),
)


@FUZZ
@given(method=st.sampled_from(["PUT", "POST", "PATCH", "DELETE", "FOO"]), target=request_targets,
       length=content_lengths, headers=header_lines, body=st.binary(max_size=150),
       bad_name=hostile_names.filter(lambda name: name.isascii() and "\r" not in name and "\n" not in name))
@example(method="PUT", target=f"{API}/meshes", length="abc", headers=[], body=b"}", bad_name="a*")  # the probe's
@example(method="PUT", target=f"{API}/meshes", length="-5", headers=[], body=b"}", bad_name="a*")
@example(method="PUT", target=f"{API}/meshes", length="99999999999999", headers=[], body=b"}", bad_name="a*")
def test_content_length_and_header_games_are_answered_with_client_errors(
    world: World, unchanged: None, method: str, target: str, length: str | None, headers: list[str], body: bytes,
    bad_name: str,
) -> None:
    """Whatever the framing, each answer is a 4xx and the server answers (the client closes its sending side).

    The body always opens with a refused name, so any prefix the server reads is refused too.
    """
    payload = b'{"meshName":' + json.dumps(bad_name).encode() + b"," + body
    lines = [f"{method} {target.format(mesh=world.mesh)} HTTP/1.1", f"Host: {world.host}", *headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    raw = "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + payload
    answers = [a for a in rawhttp.exchange((world.host, world.port), raw, half_close=True, timeout=SOCKET_TIMEOUT)
               if a.status >= 200]
    assert answers, raw[:300]
    for answer in answers:
        assert_client_error(answer, raw[:300])
