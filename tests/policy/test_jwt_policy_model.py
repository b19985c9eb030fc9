"""The `jwt` policy section refuses bad input with the field named, in the model and at the API.

Model level: wrong types, unknown fields, out-of-range values, key sets Envoy could not load,
insecure key URIs and conflicting rules each fail at the location a BadRequest names.  API level:
the same mistakes through `PUT /meshplane/v1/meshes/{mesh}/policies` are BadRequestExceptions
whose message names the field below `spec.jwt`.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from api.conftest import moto_endpoint, stack
from api.specs import gateway_spec, node_spec
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy import jwks
from meshplane.model.policy import jwt as jwt_section
from meshplane.model.policy.jwt import JwtAuthentication
from meshplane.model.policy.spec import PolicyData, PolicySpec
from pydantic import ValidationError
from support import MeshBuilder, listener, validate_sidecar

__all__ = ["moto_endpoint", "stack"]  # the API stack fixtures, shared with tests/api
pytestmark = pytest.mark.xdist_group("policy-jwt-api")  # one API stack for the module


def _b64(size: int) -> str:
    return base64.urlsafe_b64encode(b"\x01" * size).rstrip(b"=").decode()


def _public(curve: ec.EllipticCurve) -> dict[str, Any]:
    return dict(ECAlgorithm.to_jwk(ec.generate_private_key(curve).public_key(), as_dict=True))


def _rsa(bits: int) -> dict[str, Any]:
    return dict(RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, bits).public_key(), as_dict=True))


EC_KEY = {**_public(ec.SECP256R1()), "kid": "k1"}
RSA_KEY = _rsa(2048)
JWKS = json.dumps({"keys": [EC_KEY]})


def _provider(name: str = "idp", **changes: Any) -> dict[str, Any]:
    return {"name": name, "issuer": "https://idp.example.com", "jwks": {"inline": JWKS}, **changes}


def _section(**changes: Any) -> dict[str, Any]:
    return {"providers": [_provider()], **changes}


def _refused(body: dict[str, Any]) -> tuple[str, str]:
    """(location, message) of the single error `body` raises, the location as the API prints it."""
    with pytest.raises(ValidationError) as caught:
        JwtAuthentication.model_validate(body)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    error = errors[0]
    where = ".".join(str(part) for part in error["loc"])
    field = getattr((error.get("ctx") or {}).get("error"), "field", "")
    return ".".join(p for p in (where, field) if p), error["msg"]


def test_the_section_applies_to_virtual_nodes_and_gateways() -> None:
    assert {"virtualNode", "virtualGateway"} == jwt_section.TARGETS


def test_a_full_section_round_trips_in_camel_case_with_header_names_in_lower_case() -> None:
    remote = {"uri": "https://idp.example.com/.well-known/jwks.json", "timeout": {"value": 2, "unit": "s"},
              "cacheDuration": {"value": 600, "unit": "s"}, "caCertificateFile": "/etc/ssl/idp-ca.pem"}
    body = {
        "providers": [
            _provider(audiences=["shop"], fromHeaders=[{"name": "X-Token", "valuePrefix": "Token "}],
                      fromParams=["access_token"], fromCookies=["session"], forward=True,
                      forwardPayloadHeader="x-jwt-payload",
                      claimToHeaders=[{"claim": "org.id", "header": "X-Org"}], clockSkewSeconds=30),
            _provider("partner", jwks={"remote": remote}),
        ],
        "rules": [
            {"match": {"prefix": "/health"}, "allowMissing": True},
            {"match": {"exact": "/orders"}, "providers": ["idp", "partner"]},
            {"match": {"prefix": "/feed"}, "providers": ["partner"], "allowMissing": True},
        ],
    }
    section = JwtAuthentication.model_validate(body)
    wire = section.wire()
    assert wire["providers"][0]["fromHeaders"] == [{"name": "x-token", "valuePrefix": "Token "}]
    assert wire["providers"][0]["claimToHeaders"] == [{"claim": "org.id", "header": "x-org"}]
    assert wire["providers"][1]["jwks"] == {"remote": remote}
    assert section.model_dump(mode="json", by_alias=True, exclude_defaults=True)["rules"] == body["rules"]
    assert JwtAuthentication.model_validate(wire) == section


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]:9000/jwks"])
def test_plain_http_is_accepted_for_a_loopback_key_server(uri: str) -> None:
    JwtAuthentication.model_validate(_section(providers=[_provider(jwks={"remote": {"uri": uri}})]))


def _jwks(*keys: dict[str, Any]) -> dict[str, Any]:
    return {"inline": json.dumps({"keys": list(keys)})}


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        # wrong types and unknown fields
        (_section(providers=[_provider(issuer=5)]), "providers.0.issuer", "valid string"),
        (_section(providers=[_provider(forward="yes")]), "providers.0.forward", "valid boolean"),
        (_section(providers=_provider()), "providers", "valid list"),
        (_section(provider=[]), "provider", "Extra"),
        (_section(providers=[_provider(jwksUri="https://idp.example.com/jwks")]), "providers.0.jwksUri", "Extra"),
        # out-of-range values
        (_section(providers=[]), "providers", "at least 1 item"),
        (_section(providers=[_provider(clockSkewSeconds=7200)]), "providers.0.clockSkewSeconds", "less than"),
        (_section(providers=[_provider(name="bad name")]), "providers.0.name", "pattern"),
        (_section(providers=[_provider(fromCookies=["a=b"])]), "providers.0.fromCookies.0", "pattern"),
        (_section(providers=[_provider(fromHeaders=[{"name": "x-t", "valuePrefix": "T\r\n"}])]),
         "providers.0.fromHeaders.0.valuePrefix", "pattern"),
        (_section(rules=[{"match": {"prefix": "orders"}, "allowMissing": True}]), "rules.0.match.prefix", "pattern"),
        (_section(rules=[{"match": {"exact": "/a?b=1"}, "allowMissing": True}]), "rules.0.match.exact", "pattern"),
        # key sets Envoy could not load
        (_section(providers=[_provider(jwks={"inline": "not json"})]), "providers.0.jwks.inline", "not JSON"),
        (_section(providers=[_provider(jwks={"inline": "{}"})]), "providers.0.jwks.inline", "`keys` list"),
        (_section(providers=[_provider(jwks=_jwks({"kty": "DSA"}))]), "providers.0.jwks.inline", "kty must be"),
        (_section(providers=[_provider(jwks=_jwks({**EC_KEY, "x": "***"}))]), "providers.0.jwks.inline", "keys[0]: x"),
        (_section(providers=[_provider(jwks=_jwks({**EC_KEY, "y": _b64(31)}))]), "providers.0.jwks.inline",
         "y must be 32 bytes"),
        (_section(providers=[_provider(jwks=_jwks({"kty": "RSA", "e": "AQAB"}))]), "providers.0.jwks.inline",
         "n must be"),
        (_section(providers=[_provider(jwks={"inline": JWKS, "remote": {"uri": "https://a.example/j"}})]),
         "providers.0.jwks", "exactly one of"),
        # key servers that are not verified
        (_section(providers=[_provider(jwks={"remote": {"uri": "http://idp.example.com/jwks"}})]),
         "providers.0.jwks.remote.uri", "must use https"),
        (_section(providers=[_provider(jwks={"remote": {"uri": "ftp://idp.example.com/jwks"}})]),
         "providers.0.jwks.remote.uri", "must use https"),
        (_section(providers=[_provider(jwks={"remote": {"uri": "/jwks.json"}})]),
         "providers.0.jwks.remote.uri", "absolute URI"),
        (_section(providers=[_provider(jwks={"remote": {"uri": "https://idp.example.com:70000/jwks"}})]),
         "providers.0.jwks.remote.uri", "Port out of range"),
        (_section(providers=[_provider(jwks={"remote": {"uri": "https://idp.example.com:0/jwks"}})]),
         "providers.0.jwks.remote.uri", "port 0"),
        (_section(providers=[_provider(jwks={"remote": {"uri": "https://idp_example!.com/jwks"}})]),
         "providers.0.jwks.remote.uri", "host name"),
        (_section(providers=[_provider(jwks={"remote": {"uri": "https://224.0.0.1/jwks"}})]),
         "providers.0.jwks.remote.uri", "unicast"),
        (_section(providers=[_provider(jwks={"remote": {"uri": "https://me:secret@idp.example.com/jwks"}})]),
         "providers.0.jwks.remote.uri", "no credentials"),
        (_section(providers=[_provider(jwks={"remote": {"uri": "https://a.example/j"}}),
                             _provider("b", jwks={"remote": {"uri": "https://a.example:443/k",
                                                             "caCertificateFile": "/etc/a.pem"}})]),
         "providers[1].jwks.remote.caCertificateFile", "same host and port"),
        # headers a token may not be copied into
        (_section(providers=[_provider(claimToHeaders=[{"claim": "sub", "header": "x-meshplane-gateway-target"}])]),
         "providers.0.claimToHeaders.0.header", "reserved"),
        (_section(providers=[_provider(forwardPayloadHeader="Authorization")]), "providers.0.forwardPayloadHeader",
         "reserved"),
        (_section(providers=[_provider(claimToHeaders=[{"claim": "sub", "header": "x a"}])]),
         "providers.0.claimToHeaders.0.header", "pattern"),
        (_section(providers=[_provider(claimToHeaders=[{"claim": "sub", "header": "x-u"}],
                                       forwardPayloadHeader="X-U")]),
         "providers.0.forwardPayloadHeader", "already written by claimToHeaders[0].header"),
        (_section(providers=[_provider(fromHeaders=[{"name": "x-t"}],
                                       claimToHeaders=[{"claim": "s", "header": "x-t"}])]),
         "providers.0.claimToHeaders[0].header", "where the token is read from"),
        # conflicting rules and references to missing providers
        (_section(providers=[_provider(), _provider()]), "providers[1].name", "already used"),
        (_section(rules=[{"match": {"prefix": "/"}, "providers": ["idp", "other"]}]), "rules[0].providers[1]",
         "no provider named 'other'"),
        (_section(rules=[{"match": {"exact": "/a"}, "providers": ["idp"]}, {"match": {"exact": "/a"},
                                                                            "allowMissing": True}]),
         "rules[1].match", "the same match as rules[0]"),
        (_section(rules=[{"match": {"prefix": "/a"}}]), "rules.0.providers", "set allowMissing"),
        (_section(rules=[{"match": {"prefix": "/a", "exact": "/a"}, "allowMissing": True}]), "rules.0.match",
         "exactly one of"),
    ],
)
def test_bad_input_is_refused_at_the_field(body: dict[str, Any], where: str, says: str) -> None:
    location, message = _refused(body)
    assert location == where, message
    assert says in message


# -- key sets -----------------------------------------------------------------------------------------------

VALID_KEYS = {
    "RSA 2048": RSA_KEY,
    "RSA 2048 for PS384": {**RSA_KEY, "alg": "PS384"},
    "P-256 for ES256": {**EC_KEY, "alg": "ES256"},
    "P-384": _public(ec.SECP384R1()),
    "P-521": _public(ec.SECP521R1()),
    "Ed25519": {**OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate().public_key(), as_dict=True),
                "alg": "EdDSA"},
    "HMAC": {"kty": "oct", "k": _b64(32), "alg": "HS256"},
}


@pytest.mark.parametrize("name", list(VALID_KEYS))
def test_keys_of_every_kind_envoy_loads_are_accepted(name: str) -> None:
    """Real keys from `cryptography`, so the curve constants are held to points the library made."""
    jwks.check(json.dumps({"keys": [VALID_KEYS[name]]}))


@pytest.mark.envoy
def test_envoy_loads_every_kind_of_key_the_model_accepts(tmp_path: Path) -> None:
    mesh = MeshBuilder("jwks-mesh")
    mesh.node("api", listener(8080))
    section = _section(providers=[_provider(jwks={"inline": json.dumps({"keys": list(VALID_KEYS.values())})})])
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    metadata = {"arn": "arn:aws:appmesh:us-west-2:123456789012:mesh/jwks-mesh/policy/keys", "uid": "uid-keys",
                "version": 1, "createdAt": now, "lastUpdatedAt": now, "meshOwner": "123456789012",
                "resourceOwner": "123456789012"}
    policy = PolicyData.model_validate({"meshName": "jwks-mesh", "policyName": "keys", "metadata": metadata,
                                        "spec": {"targets": [NODE], "jwt": section}})
    state = dataclasses.replace(mesh.build(), policies={"keys": policy})
    validate_sidecar(state, ProxyId("jwks-mesh", Kind.VIRTUAL_NODE, "api"), tmp_path)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ({**EC_KEY, "x": EC_KEY["y"]}, "not a point of P-256"),
        ({**EC_KEY, "crv": "P-384"}, "must be 48 bytes"),
        ({**EC_KEY, "alg": "ES384"}, "does not sign with a P-256 key"),
        ({**RSA_KEY, "alg": "ES256"}, "does not sign with an RSA key"),
        ({**RSA_KEY, "alg": 256}, "alg must be a string"),
        ({**RSA_KEY, "e": "AQ"}, "odd exponent"),
        ({**RSA_KEY, "e": base64.urlsafe_b64encode((65536).to_bytes(3, "big")).decode()}, "odd exponent"),
        (_rsa(1024), "2048 to 16384 bits"),
        ({**RSA_KEY, "n": "BQ"}, "2048 to 16384 bits"),
        ({"kty": "OKP", "crv": "X25519", "x": _b64(32)}, "crv must be Ed25519"),
        ({"kty": "OKP", "crv": "Ed25519", "x": _b64(32), "alg": "ES256"}, "does not sign with an OKP key"),
        ({"kty": "oct", "k": "a+b/"}, "k must be a base64url string"),
        ("RSA", "a key is a JSON object"),
    ],
)
def test_keys_envoy_would_refuse_are_named(key: Any, says: str) -> None:
    with pytest.raises(ValueError, match="keys\\[1\\]: .*" + re.escape(says)):
        jwks.check(json.dumps({"keys": [EC_KEY, key]}))


def test_a_jwt_section_on_a_route_target_is_refused_naming_the_section() -> None:
    body = {"targets": [{"route": {"virtualRouterName": "r", "routeName": "x"}}], "jwt": _section()}
    with pytest.raises(ValidationError) as caught:
        PolicySpec.model_validate(body)
    assert "applies to virtualGateway and virtualNode targets only" in str(caught.value)


# -- the API ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mesh(stack: Any) -> Iterator[str]:
    """A mesh with a virtual node `api` and a virtual gateway `edge` to give policies to."""
    name = f"jwt-{uuid.uuid4().hex[:8]}"
    client = stack.appmesh()
    client.create_mesh(meshName=name)
    client.create_virtual_node(meshName=name, virtualNodeName="api", spec=node_spec(8080))
    client.create_virtual_gateway(meshName=name, virtualGatewayName="edge", spec=gateway_spec(8443))
    yield name


def _put(stack: Any, mesh: str, policy: str, target: dict[str, Any], section: Any) -> requests.Response:
    body = {"policyName": policy, "spec": {"targets": [target], "jwt": section}}
    return requests.put(f"{stack.api_endpoint}/meshplane/v1/meshes/{mesh}/policies", json=body, timeout=10)


NODE = {"virtualNode": {"virtualNodeName": "api"}}
GATEWAY = {"virtualGateway": {"virtualGatewayName": "edge"}}


def test_a_valid_section_is_created_and_described_as_written(stack: Any, mesh: str) -> None:
    section = _section(rules=[{"match": {"prefix": "/public"}, "allowMissing": True}])
    created = _put(stack, mesh, "edge-jwt", GATEWAY, section)
    assert created.status_code == 200, created.text
    described = requests.get(f"{stack.api_endpoint}/meshplane/v1/meshes/{mesh}/policies/edge-jwt", timeout=10)
    assert described.json()["policy"]["spec"]["jwt"] == JwtAuthentication.model_validate(section).wire()


@pytest.mark.parametrize(
    ("target", "section", "says"),
    [
        (NODE, _section(providers=[_provider(issuer=5)]), "spec.jwt.providers[0].issuer"),
        (NODE, _section(providers=[_provider(audience=["a"])]), "spec.jwt.providers[0].audience"),
        (NODE, _section(providers=[_provider(jwks={"inline": "{}"})]), "spec.jwt.providers[0].jwks.inline"),
        (NODE, _section(providers=[_provider(jwks={"remote": {"uri": "http://idp.example.com/j"}})]),
         "spec.jwt.providers[0].jwks.remote.uri: Value error, must use https"),
        (NODE, _section(rules=[{"match": {"prefix": "/"}, "providers": ["nobody"]}]),
         "spec.jwt.rules[0].providers[0]: no provider named 'nobody'"),
        (NODE, _section(providers=[_provider(), _provider()]), "spec.jwt.providers[1].name: 'idp' is already used"),
        (NODE, _section(rules=[{"match": {"prefix": "/a"}, "allowMissing": True},
                               {"match": {"prefix": "/a"}, "providers": ["idp"]}]),
         "spec.jwt.rules[1].match: the same match as rules[0]"),
        ({"route": {"virtualRouterName": "r", "routeName": "x"}}, _section(),
         "spec.jwt: applies to virtualGateway and virtualNode targets only"),
    ],
)
def test_bad_input_is_a_bad_request_naming_the_field(
    stack: Any, mesh: str, target: dict[str, Any], section: Any, says: str
) -> None:
    response = _put(stack, mesh, f"bad-{uuid.uuid4().hex[:6]}", target, section)
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert says in response.json()["message"], response.json()["message"]
