"""Which URLs a proof may point at: STS of the server's partition, or the one configured emulator.

The server sends the proof's request on, so the URL is an exact allow-list check, never
a pattern on user input: `https://sts.<region>.<dnsSuffix>/` for a region that matches the
partition's `regionRegex` (botocore's partitions.json), `https://sts.amazonaws.com/` (the
global endpoint, partition `aws` only), or a URL the operator configured (the emulator's
`AWS_ENDPOINT_URL` locally). Nothing else is ever contacted: no other host, port, scheme,
path, query, or user info, which rules out using the server to reach internal addresses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from meshplane.identity.proof import GLOBAL_STS_HOST


class EndpointRefused(ValueError):
    """The proof's URL is not an STS endpoint this server may call."""


def _partition(partition: str) -> tuple[re.Pattern[str], str]:
    import botocore.loaders

    for entry in botocore.loaders.create_loader().load_data("partitions")["partitions"]:
        if entry["id"] == partition:
            return re.compile(entry["regionRegex"]), entry["outputs"]["dnsSuffix"]
    raise ValueError(f"unknown AWS partition {partition!r}")


def _normalised(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"


class StsEndpoints:
    def __init__(self, partition: str, configured: Iterable[str] = ()) -> None:
        self._regions, self._suffix = _partition(partition)
        self._global = GLOBAL_STS_HOST if partition == "aws" else None
        self._configured = {_normalised(u) for u in configured}

    def check(self, url: str) -> str:
        """Return `url` if a proof may be sent there; raise EndpointRefused otherwise."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise EndpointRefused("the proof's URL is not a URL") from None
        if parts.query or parts.fragment or parts.username or parts.password:
            raise EndpointRefused("the proof's URL may not carry a query, fragment or user info")
        if _normalised(url) in self._configured:
            return url
        host = parts.hostname or ""
        if parts.scheme != "https" or port not in (None, 443) or parts.path not in ("", "/"):
            raise EndpointRefused(f"{url} is not an STS endpoint")
        if host == self._global or self._regional(host):
            return url
        raise EndpointRefused(f"{url} is not an STS endpoint")

    def _regional(self, host: str) -> bool:
        prefix, suffix = "sts.", "." + self._suffix
        if not (host.startswith(prefix) and host.endswith(suffix)):
            return False
        return bool(self._regions.fullmatch(host[len(prefix) : -len(suffix)]))
