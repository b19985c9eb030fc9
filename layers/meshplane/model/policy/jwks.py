"""Whether a JWK set is one Envoy's `jwt_authn` filter loads, checked when a `jwt` policy is written.

Envoy refuses a listener whose inline JWKS has one key it cannot parse, and with it the whole
listener update of every proxy the policy reaches, so each rule it applies is applied here first
(measured against Envoy 1.40: an EC point off its curve, an even or unit RSA exponent, an `alg`
that does not fit the key are all refused).  RSA keys shorter than 2048 bits, which Envoy would
load, are refused too: NIST has disallowed them for signatures since 2013.

Only the standard library: the API's cold start loads this module with the policy models.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Curve:
    """A NIST prime curve y^2 = x^3 - 3x + b (mod p), the `alg` that signs with it and its coordinate size."""

    size: int
    p: int
    b: int
    alg: str


CURVES = {
    "P-256": Curve(
        32,
        2**256 - 2**224 + 2**192 + 2**96 - 1,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        "ES256",
    ),
    "P-384": Curve(
        48,
        2**384 - 2**128 - 2**96 + 2**32 - 1,
        0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
        "ES384",
    ),
    "P-521": Curve(
        66,
        2**521 - 1,
        0x0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00,
        "ES512",
    ),
}


class KeyProblem(ValueError):
    """One key Envoy would not load; the message names the member."""


def check(text: str) -> None:
    """Raise ValueError unless `text` is a JWK set Envoy loads: every key complete, decodable and consistent."""
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError("not JSON: a JWK set is a JSON object with a `keys` list") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ValueError("a JWK set is a JSON object with a non-empty `keys` list")
    for index, key in enumerate(keys):
        try:
            check_key(key)
        except KeyProblem as problem:
            raise ValueError(f"keys[{index}]: {problem}") from None


def check_key(key: Any) -> None:
    """Raise KeyProblem naming what Envoy would refuse in one JWK."""
    if not isinstance(key, dict):
        raise KeyProblem("a key is a JSON object")
    alg = key.get("alg")
    if alg is not None and not isinstance(alg, str):
        raise KeyProblem("alg must be a string")
    kty = key.get("kty")
    if kty == "RSA":
        _rsa(key, alg)
    elif kty == "EC":
        _ec(key, alg)
    elif kty == "OKP":
        _fits(alg, ("EdDSA",), "an OKP key")
        if key.get("crv") != "Ed25519":
            raise KeyProblem("crv must be Ed25519")
        _sized(key, "x", 32)
    elif kty == "oct":
        _fits(alg, ("HS256", "HS384", "HS512"), "an oct key")
        _decoded(key, "k")
    else:
        raise KeyProblem("kty must be RSA, EC, OKP or oct")


def _rsa(key: dict[str, Any], alg: str | None) -> None:
    if alg is not None and not alg.startswith(("RS", "PS")):
        raise KeyProblem(f"alg {alg!r} does not sign with an RSA key (RS... or PS...)")
    modulus = int.from_bytes(_decoded(key, "n"), "big")
    if not MIN_RSA_BITS <= modulus.bit_length() <= MAX_RSA_BITS or modulus % 2 == 0:
        raise KeyProblem(f"n must be an odd modulus of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits")
    exponent = int.from_bytes(_decoded(key, "e"), "big")
    if exponent < 3 or exponent % 2 == 0 or exponent.bit_length() > 33:
        raise KeyProblem("e must be an odd exponent of at least 3 and at most 33 bits")


def _ec(key: dict[str, Any], alg: str | None) -> None:
    curve = CURVES.get(key.get("crv", ""))
    if curve is None:
        raise KeyProblem(f"crv must be one of {sorted(CURVES)}")
    _fits(alg, (curve.alg,), f"a {key['crv']} key")
    x = int.from_bytes(_sized(key, "x", curve.size), "big")
    y = int.from_bytes(_sized(key, "y", curve.size), "big")
    if x >= curve.p or y >= curve.p or (y * y - x * x * x + 3 * x - curve.b) % curve.p:
        raise KeyProblem(f"x and y are not a point of {key['crv']}")


def _fits(alg: str | None, allowed: tuple[str, ...], what: str) -> None:
    if alg is not None and alg not in allowed:
        raise KeyProblem(f"alg {alg!r} does not sign with {what} ({', '.join(allowed)})")


def _sized(key: dict[str, Any], member: str, size: int) -> bytes:
    decoded = _decoded(key, member)
    if len(decoded) != size:
        raise KeyProblem(f"{member} must be {size} bytes")
    return decoded


def _decoded(key: dict[str, Any], member: str) -> bytes:
    """The member's bytes: present, base64url without padding (RFC 7517)."""
    value = key.get(member)
    if not isinstance(value, str) or not _BASE64URL.fullmatch(value):
        raise KeyProblem(f"{member} must be a base64url string")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise KeyProblem(f"{member} must be a base64url string") from None
