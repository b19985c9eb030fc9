"""The deployed API the proxy forwards to: its origin, stage prefix and signing region."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# <api-id>.execute-api.<region>.amazonaws.com[.cn] and the VPC endpoint form <api-id>-<vpce-id>.execute-api...
_EXECUTE_API_HOST = re.compile(r"^[^.]+\.execute-api\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)\.")


class TargetError(ValueError):
    """A `--target` the proxy cannot forward to; the message names what is wrong."""


@dataclass(frozen=True)
class Target:
    """Where requests go: `origin` (scheme://host[:port]), the stage `prefix` (`/v1` or empty) and `region`."""

    scheme: str
    netloc: str
    prefix: str
    region: str

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    def url(self, path_and_query: str) -> str:
        """The upstream URL of an App Mesh path (`/v20190125/meshes...`): the stage prefix goes first."""
        return f"{self.origin}{self.prefix}{path_and_query}"


def region_of_host(host: str) -> str | None:
    """The region an `execute-api` host name carries, None for other names (custom domains, loopback)."""
    found = _EXECUTE_API_HOST.match(host.lower())
    return found["region"] if found else None


def parse_target(url: str, region: str | None = None) -> Target:
    """`--target` as given; `region` overrides the one in an execute-api host name and is needed without one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"--target: must be an http(s) URL such as "
                          f"https://<api-id>.execute-api.<region>.amazonaws.com/v1, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise TargetError(f"--target: must not carry a query, fragment or user info, got {url!r}")
    try:
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise TargetError(f"--target: {exc}") from None
    found = region or region_of_host(parts.hostname)
    if not found:
        raise TargetError(f"--target: {parts.hostname} names no region (not an execute-api host): pass --region")
    return Target(parts.scheme, parts.netloc, parts.path.rstrip("/"), found)
