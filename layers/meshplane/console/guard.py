"""Who may use the relay: the console's own page, in the operator's browser, and nothing else.

`meshplane.api.http` calls the guard with every raw request before it is handled
(its `authenticate` hook).  See the package docstring for the threats; in short:
- `Host` must be one of the console's own loopback names, so a page on a rebound name
  (DNS rebinding) gets nothing, not even the page;
- a relayed call needs the process's token in `TOKEN_HEADER` (a custom header: cross-origin
  pages cannot send it without a CORS preflight, which the console never grants);
- a relayed call that says where it comes from (`Origin`, `Sec-Fetch-Site`) must come
  from the console's own origin.
The page's own files need no token: they hold none, and are the same for everyone.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from meshplane.api.authz import Unauthenticated
from meshplane.console.routes import relayed_path

TOKEN_HEADER = "X-Meshplane-Console-Token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
REFUSED = "ForbiddenException"


def new_token() -> str:
    """A fresh token for one console process: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class Guard:
    """The `authenticate` hook of the console's server; it refuses everything until told its port (`listening_on`)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.hosts: frozenset[str] = frozenset()
        self.origins: frozenset[str] = frozenset()

    def listening_on(self, host: str, port: int) -> None:
        """The address the server is bound to: the `Host` and `Origin` the console's own page sends name it."""
        self.hosts = frozenset(f"{name}:{port}" for name in {*LOOPBACK_NAMES, host.lower()})
        self.origins = frozenset(f"http://{host}" for host in self.hosts)

    def __call__(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        seen = {name.lower(): value for name, value in headers.items()}
        if seen.get("host", "").lower() not in self.hosts:
            raise Unauthenticated(REFUSED, f"Host: the console answers only as {', '.join(sorted(self.hosts))}")
        if relayed_path(urlsplit(raw_path).path) is None:
            return None
        origin = seen.get("origin")
        if origin is not None and origin.lower() not in self.origins:
            raise Unauthenticated(REFUSED, f"Origin: {origin[:100]} is not the console's; cross-origin calls are "
                                  "never relayed")  # fmt: skip
        site = seen.get("sec-fetch-site")
        if site is not None and site != "same-origin":
            raise Unauthenticated(REFUSED, f"Sec-Fetch-Site: {site[:40]}; only the console's own page is relayed")
        if not hmac.compare_digest(seen.get(TOKEN_HEADER.lower(), "").encode(), self.token.encode()):
            raise Unauthenticated(REFUSED, f"{TOKEN_HEADER}: missing or wrong; open the URL `meshplane console` "
                                  "printed, which carries it")  # fmt: skip
        return None
