"""The local API Gateway's IAM authorizer: who signed a request, asked of the emulator that issued the keys.

`meshplane.api.http` calls an authenticator with the raw request; this one forwards it
to the moto wrapper's `/_meshplane/authenticate` (`iam_authenticate`) and returns what
API Gateway puts in `requestContext.identity`, or raises `Unauthenticated` with API
Gateway's error type.  The App Mesh clients sign for `appmesh` unless re-scoped to
`execute-api` (`meshplane.signing`), so both scopes are accepted.  An emulator that
cannot answer (not the wrapper, not running) refuses: fail closed.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from meshplane.api.authz import Unauthenticated

SERVICES = ("appmesh", "execute-api")
ENDPOINT = "/_meshplane/authenticate"


class EmulatorAuthenticator:
    """Authenticates requests against the IAM of the emulator at `endpoint_url()` (read on each call)."""

    def __init__(self, endpoint_url: Callable[[], str], region: str, *, timeout: float = 5.0,
                 unauthenticated_paths: frozenset[str] = frozenset()) -> None:
        self.endpoint_url, self.region, self.timeout = endpoint_url, region, timeout
        self.unauthenticated_paths = unauthenticated_paths  # the local server's own pages (/healthz)

    def __call__(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        parts = urlsplit(raw_path)
        if parts.path in self.unauthenticated_paths:
            return None
        payload = {"method": method, "path": parts.path, "query": parts.query, "headers": dict(headers),
                   "body": base64.b64encode(body).decode(), "services": list(SERVICES), "region": self.region}
        status, answer = self._post(payload)
        if status == 200:
            return {"userArn": answer["arn"], "accountId": answer["account"], "caller": answer["userId"],
                    "user": answer["userId"], "accessKey": answer["accessKey"],
                    "userAgent": _header(headers, "User-Agent")}
        if status == 403:
            raise Unauthenticated(str(answer.get("code")), str(answer.get("message")))
        raise Unauthenticated("UnrecognizedClientException",
                              f"the local IAM emulator could not authenticate the request (HTTP {status}: "
                              f"{answer.get('message', '')})")

    def _post(self, payload: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(f"{self.endpoint_url()}{ENDPOINT}", data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())
        except (urllib.error.URLError, OSError) as exc:
            raise Unauthenticated("UnrecognizedClientException",
                                  f"the local IAM emulator is unreachable ({exc}); the request is refused") from None


def _json(data: bytes) -> dict[str, Any]:
    try:
        found = json.loads(data or b"{}")
    except ValueError:
        return {"message": "not JSON: the emulator is not meshplane's moto wrapper"}
    return found if isinstance(found, dict) else {}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)
