"""The `jwt` policy section: end-user authentication by JSON Web Tokens at a node's or gateway's ingress.

Shaped after Istio's RequestAuthentication (providers with issuer, audiences, JWKS, token
locations, claim headers) and translated to Envoy's `jwt_authn` filter.  Unlike Istio, the
requirements live in the same section as `rules`, so no separate authorization policy is needed
to make a token mandatory.

Rule semantics: a `prefix` matches at a segment boundary (`/public` covers `/public` and
`/public/...`, not `/publicity`; a prefix ending in `/` covers what starts with it).  The most
specific rule matching a request's path wins (an `exact` match before any prefix, a longer prefix
before a shorter one), so the order rules are written in does not matter
and two rules with the same match are a conflict.  A path no rule matches needs a valid token from
any provider: forgetting a rule never opens a path.  A rule with no providers and `allowMissing`
makes its paths public (no token is checked); a rule with providers and `allowMissing` checks a
token when one is sent and lets requests without one pass.  On a virtual gateway the rules
match the path the client sent, before any gateway route rewrites it.

Tokens are read from HTTP requests, so the section applies to the target's `http`, `http2` and
`grpc` listeners; its `tcp` listeners are left as they are.

A remote JWKS must be fetched over `https`; plain `http` is accepted only to a loopback host (a
key server on the proxy's own host, as in local development), because a key set fetched in the
clear lets anyone on the path mint accepted tokens.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from meshplane.model import addresses
from meshplane.model.base import AppMeshModel, AppMeshUnion
from meshplane.model.policy import jwks
from meshplane.model.policy.ejection import PolicyDuration

TARGETS: frozenset[str] = frozenset({"virtualNode", "virtualGateway"})

MAX_PROVIDERS = 20
MAX_RULES = 100
MAX_JWKS_BYTES = 64 * 1024
# Header names as RFC 9110 tokens, kept in lower case (HTTP/2's form, and how Envoy compares them).
_HEADER_NAME = r"^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$"
_PROVIDER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Headers Envoy owns or that steer routing: a claim or payload written there would be a forgery vector.
RESERVED_HEADERS = frozenset({"host", "authorization", "content-length", "transfer-encoding", "connection"})
# The mesh's own headers (the gateway's steering header) and Envoy's: a claim there could steer or spoof.
RESERVED_PREFIXES = ("x-meshplane-", "x-envoy-")
_LOOPBACK_NAMES = frozenset({"localhost"})

# A request path as Envoy matches it, before the query string: so no `?` or `#`.
Path = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^/[^?#]*$")]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


HeaderName = Annotated[str, BeforeValidator(_lower), Field(pattern=_HEADER_NAME)]
FilePath = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^/")]
ParamName = Annotated[str, Field(min_length=1, max_length=128)]
# RFC 6265 cookie-name: an RFC 9110 token.
CookieName = Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")]


class _Section(AppMeshModel):
    model_config = ConfigDict(frozen=True)


class _SectionUnion(AppMeshUnion):
    model_config = ConfigDict(frozen=True)


class TokenHeader(_Section):
    """A request header holding the token, after an optional prefix such as `Bearer `."""

    name: HeaderName
    # A header value's text (Envoy refuses CR, LF and NUL in it).
    value_prefix: Annotated[str, Field(max_length=64, pattern=r"^[^\r\n\x00]*$")] | None = Field(
        default=None, alias="valuePrefix")

    @field_validator("name")
    @classmethod
    def _not_pseudo(cls, name: str) -> str:
        if name.startswith(":"):
            raise ValueError("a pseudo-header cannot carry a token")
        return name


class ClaimHeader(_Section):
    """Copy a verified claim (a top-level name or a dotted path into nested objects) into a request header."""

    claim: Annotated[str, Field(min_length=1, max_length=256)]
    header: HeaderName

    @field_validator("header")
    @classmethod
    def _writable(cls, header: str) -> str:
        check_writable(header)
        return header


def check_writable(header: str) -> None:
    """A header a verified token may be copied into: none the proxy, the mesh or HTTP itself owns."""
    if header in RESERVED_HEADERS or header.startswith(RESERVED_PREFIXES):
        raise ValueError(f"{header!r} is reserved")


class RemoteJwks(_Section):
    """A JWKS that every proxy fetches from its issuer and caches."""

    uri: Annotated[str, Field(min_length=1, max_length=2048)]
    # How long one fetch may take (5 s when not given).
    timeout: PolicyDuration | None = None
    # How long a fetched key set is used before it is fetched again (Envoy's default when not given: 10 minutes).
    cache_duration: PolicyDuration | None = Field(default=None, alias="cacheDuration")
    # A PEM CA bundle on the proxy's host to verify the key server with, for a private CA;
    # without one the proxy's system CA bundle is used.
    ca_certificate_file: FilePath | None = Field(default=None, alias="caCertificateFile")

    @property
    def endpoint(self) -> tuple[str, int, bool]:
        """(host, port, TLS): where the keys are fetched from."""
        parts = urlsplit(self.uri)
        secure = parts.scheme == "https"
        return parts.hostname or "", parts.port or (443 if secure else 80), secure

    @field_validator("uri")
    @classmethod
    def _secure_uri(cls, uri: str) -> str:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        if not host:
            raise ValueError("must be an absolute URI with a host")
        if parts.username is not None or parts.fragment or any(c.isspace() for c in uri):
            raise ValueError("must carry no credentials, fragment or white space")
        _check_endpoint(host, parts.port)  # the proxy's cluster for the key server is built from these
        if parts.scheme == "https":
            return uri
        if parts.scheme == "http" and _is_loopback(host):
            return uri
        raise ValueError("must use https (plain http only to a loopback host)")


def _check_endpoint(host: str, port: int | None) -> None:
    """Raise ValueError unless Envoy can connect to `host` (an IP address or a DNS name) on `port`."""
    if port == 0:
        raise ValueError("port 0 cannot be connected to")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        addresses.hostname(host)  # InvalidAddress is a ValueError naming the problem
    else:
        addresses.ip_address(host)


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Jwks(_SectionUnion):
    """Where a provider's public keys come from: the JWKS document itself, or its URI."""

    inline: Annotated[str, Field(min_length=1, max_length=MAX_JWKS_BYTES)] | None = None
    remote: RemoteJwks | None = None

    @field_validator("inline")
    @classmethod
    def _a_key_set(cls, text: str | None) -> str | None:
        if text is not None:
            jwks.check(text)
        return text


class JwtProvider(_Section):
    """One token issuer: who signs, for whom, with which keys, and where the token travels."""

    name: Annotated[str, Field(pattern=_PROVIDER_NAME)]
    issuer: Annotated[str, Field(min_length=1, max_length=512)]
    # Empty: the `aud` claim is not checked.  Otherwise the token must name at least one of these.
    audiences: Annotated[list[Annotated[str, Field(min_length=1, max_length=512)]], Field(max_length=20)] = []
    jwks: Jwks
    # With no location given: `Authorization: Bearer <token>`, then the `access_token` query parameter
    # (Envoy's and Istio's default).  Any location given replaces that default.
    from_headers: Annotated[list[TokenHeader], Field(max_length=10)] = Field(default=[], alias="fromHeaders")
    from_params: Annotated[list[ParamName], Field(max_length=10)] = Field(default=[], alias="fromParams")
    from_cookies: Annotated[list[CookieName], Field(max_length=10)] = Field(default=[], alias="fromCookies")
    # Keep the token in the request passed on; by default it is removed once verified.
    forward: bool = False
    forward_payload_header: HeaderName | None = Field(default=None, alias="forwardPayloadHeader")
    claim_to_headers: Annotated[list[ClaimHeader], Field(max_length=20)] = Field(default=[], alias="claimToHeaders")
    # Tolerance for `exp` and `nbf` between clocks; Envoy's own default is 60 s.
    clock_skew_seconds: Annotated[int, Field(ge=0, le=3600)] | None = Field(default=None, alias="clockSkewSeconds")
    # A token without `exp` would be valid for ever: refused unless this is turned off.
    require_expiration: bool = Field(default=True, alias="requireExpiration")

    @field_validator("forward_payload_header")
    @classmethod
    def _payload_writable(cls, header: str | None) -> str | None:
        if header is not None:
            check_writable(header)
        return header

    @model_validator(mode="after")
    def _distinct_headers(self) -> JwtProvider:
        written = [(f"claimToHeaders[{i}].header", c.header) for i, c in enumerate(self.claim_to_headers)]
        if self.forward_payload_header is not None:
            written.append(("forwardPayloadHeader", self.forward_payload_header))
        read = {h.name for h in self.from_headers} or {"authorization"}
        seen: dict[str, str] = {}
        for field, header in written:
            if header in seen:
                raise problem(field, f"{header!r} is already written by {seen[header]}")
            if header in read:
                raise problem(field, f"{header!r} is where the token is read from")
            seen[header] = field
        return self


class PathMatch(_SectionUnion):
    """The request paths a rule covers (query string excluded)."""

    prefix: Path | None = None
    exact: Path | None = None


class JwtRule(_Section):
    """Which providers' tokens the matched paths need."""

    match: PathMatch
    # Any one of these providers' valid token is enough.
    providers: Annotated[list[str], Field(max_length=MAX_PROVIDERS)] = []
    # Let requests without a token pass (with providers: a token that is sent must still be valid).
    allow_missing: bool = Field(default=False, alias="allowMissing")

    @model_validator(mode="after")
    def _a_requirement(self) -> JwtRule:
        if not self.providers and not self.allow_missing:
            raise problem("providers", "name providers, or set allowMissing to make the paths public")
        return self


class JwtAuthentication(_Section):
    """JWT providers and the per-path requirements the target's ingress enforces."""

    providers: Annotated[list[JwtProvider], Field(min_length=1, max_length=MAX_PROVIDERS)]
    rules: Annotated[list[JwtRule], Field(max_length=MAX_RULES)] = []

    @model_validator(mode="after")
    def _consistent(self) -> JwtAuthentication:
        known: set[str] = set()
        for index, provider in enumerate(self.providers):
            if provider.name in known:
                raise problem(f"providers[{index}].name", f"{provider.name!r} is already used by another provider")
            known.add(provider.name)
        _one_trust_per_key_server(self.providers)
        matches: dict[tuple[str, str], int] = {}
        for index, rule in enumerate(self.rules):
            for position, name in enumerate(rule.providers):
                if name not in known:
                    raise problem(f"rules[{index}].providers[{position}]", f"no provider named {name!r}")
            key = rule.match.member
            if key in matches:
                raise problem(f"rules[{index}].match", f"the same match as rules[{matches[key]}]")
            matches[key] = index
        return self


def _one_trust_per_key_server(providers: list[JwtProvider]) -> None:
    """Providers fetching from one host and port share the proxy's connection there, so one CA verifies it."""
    first: dict[tuple[str, int, bool], tuple[int, str | None]] = {}
    for index, provider in enumerate(providers):
        remote = provider.jwks.remote
        if remote is None:
            continue
        earlier = first.setdefault(remote.endpoint, (index, remote.ca_certificate_file))
        if earlier[1] != remote.ca_certificate_file:
            raise problem(f"providers[{index}].jwks.remote.caCertificateFile",
                          f"differs from providers[{earlier[0]}], which fetches its keys from the same host and port")


def problem(field: str, message: str) -> ValueError:
    """A rule across members, naming the member below the model that checks it (the API prefixes the path there).

    `SpecProblem` is imported when a rule is broken, not with this module: the spec container
    imports every section module, this one included.
    """
    from meshplane.model.policy.spec import SpecProblem

    return SpecProblem(field, message)
