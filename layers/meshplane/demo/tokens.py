"""JSON Web Tokens for the demo's JWT policy: an RS256 key, its JWKS, and tokens signed with it.

Signed with `cryptography` (the demo's CA already needs it), RFC 7515's compact form: no JWT
library is needed to make the handful of tokens the demo shows Envoy.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://idp.demo.local/"
AUDIENCE = "demo"
KID = "demo-key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class Issuer:
    """One identity provider's signing key."""

    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537,
                                                                                     key_size=2048))

    def jwks(self) -> str:
        """The public key as the JWKS document a provider's `jwks.inline` takes."""
        numbers = self.key.public_key().public_numbers()
        key = {"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig", "n": _uint(numbers.n), "e": _uint(numbers.e)}
        return json.dumps({"keys": [key]})

    def token(self, lifetime: int, subject: str = "alice") -> str:
        """A token valid for `lifetime` seconds from now; a negative one expired that long ago."""
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now - 600,
                                  "exp": now + lifetime}
        header = {"alg": "RS256", "typ": "JWT", "kid": KID}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"
