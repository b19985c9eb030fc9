"""Who may use the proxy: everyone on this machine, or, with `--allow-remote`, holders of its own key.

On a loopback bind only local processes reach the proxy, and they could read the same
credential chain the proxy signs with, so it takes their requests signed (for `appmesh`,
which it cannot verify and therefore does not try to) or unsigned.  Bound to another
address it would relay for anyone who reaches the port, so every request must then be
signed with the proxy's own access key, and that signature is verified: the proxy holds
the secret.  The client's signature is never forwarded either way.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from botocore.credentials import Credentials

from meshplane import sigv4
from meshplane.api.authz import Unauthenticated

CLIENT_SIGNING_NAME = "appmesh"


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback address (a name is resolved)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(str(address).split("%")[0]).is_loopback for address in found)


class OwnKeyAuthenticator:
    """`meshplane.api.http`'s authenticate hook: the request is signed for `appmesh` with the proxy's own key."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def __call__(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        parts = urlsplit(raw_path)
        request = sigv4.SignedRequest(method, parts.path, parts.query, headers, body, services=(CLIENT_SIGNING_NAME,))
        try:
            sigv4.verify(request, self._own_key)
        except sigv4.Refused as refused:
            raise Unauthenticated(refused.code, refused.message) from None
        return None

    def _own_key(self, access_key: str, session_token: str | None) -> sigv4.Key:
        own = self.credentials.get_frozen_credentials()
        if access_key != own.access_key or session_token != own.token or own.secret_key is None:
            raise sigv4.UnknownKey("not the access key (and session token) this proxy signs with")
        return sigv4.Key(access_key, own.secret_key, own.token)
