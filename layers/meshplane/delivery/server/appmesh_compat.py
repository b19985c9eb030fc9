"""Streams from the App Mesh Envoy image, on a port of their own: what can be checked without a client certificate.

The image (`aws-appmesh-envoy` with `APPMESH_XDS_ENDPOINT` pointed here) dials TLS rooted in
the system CA bundle, presents no client certificate and signs each stream with SigV4 for
`appmesh`. Only AWS can verify that signature, so this port cannot learn who the caller is.
It admits a stream only when all of these hold, and refuses it otherwise:

- the peer address is in one of the allowed networks (`networks`): PERMISSION_DENIED;
- the call carries SigV4 metadata whose scope names the expected service and region and
  whose `x-amz-date` is within `max_skew` of now: UNAUTHENTICATED;
- optionally (`KeyAccounts`), `sts:GetAccessKeyInfo` says the access key id belongs to an
  allowed account: PERMISSION_DENIED (UNAVAILABLE when STS cannot answer: fail closed);
- the stream's `node.id` matches an allowed pattern (`nodes`, on `mesh/<mesh>/virtualNode/<name>`):
  PERMISSION_DENIED. Node ARNs of another account or region are refused before that, as on every port.

That is network trust plus TLS plus, at best, the account of a key id. A key id is not a
secret, and the signature is taken on trust, so none of it proves that the caller holds the
key, nor that its principal may be the node it names. envoy_bootstrap/README.md says so in full.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import grpc

from meshplane.delivery.defaults import COMPAT_MAX_SKEW_SECONDS, COMPAT_SIGNING_NAME
from meshplane.delivery.server.ads import TlsFiles
from meshplane.delivery.server.identity import Identity, StreamError
from meshplane.delivery.server.limits import Context
from meshplane.delivery.server.sigv4_metadata import AUTHORIZATION, DATE, TOKEN, SignedCall, Unsigned, read_signed_call
from meshplane.ttlcache import TtlCache

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SIGNING_NAME = COMPAT_SIGNING_NAME
MAX_SKEW = dt.timedelta(seconds=COMPAT_MAX_SKEW_SECONDS)
KEY_ACCOUNT_TTL_S = 3600.0  # a key id's account never changes; the bound only keeps memory fresh
KEY_ACCOUNT_ENTRIES = 10_000
STS_LOOKUPS = 4  # concurrent sts:GetAccessKeyInfo calls at most, so a flood of key ids queues instead of piling up
_SIGNED = (AUTHORIZATION, DATE, TOKEN)


@dataclass(frozen=True)
class CompatPolicy:
    """Which streams the port admits; both allow-lists must be given, explicitly (`mesh/*`, `0.0.0.0/0` if meant)."""

    nodes: tuple[str, ...]  # shell-style patterns on the node's path; `*` also matches `/`
    networks: tuple[Network, ...]
    region: str
    signing_name: str = SIGNING_NAME
    max_skew: dt.timedelta = MAX_SKEW

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("the App Mesh image port needs node patterns (--appmesh-compat-nodes)")
        if not self.networks:
            raise ValueError("the App Mesh image port needs source networks (--appmesh-compat-cidr)")
        for pattern in self.nodes:
            if not (pattern.startswith("mesh/") or pattern == "*"):
                raise ValueError(f"--appmesh-compat-nodes {pattern!r} must be a path pattern: mesh/<mesh>/... or *")
        if self.max_skew <= dt.timedelta(0):
            raise ValueError("--appmesh-compat-max-skew-seconds must be positive")

    @classmethod
    def parse(cls, nodes: Iterable[str], cidrs: Iterable[str], region: str, **options: Any) -> CompatPolicy:
        """From flag values; a malformed CIDR is ValueError naming it."""
        networks = []
        for cidr in cidrs:
            try:
                networks.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                raise ValueError(f"--appmesh-compat-cidr {cidr!r} is not an IPv4 or IPv6 network") from None
        return cls(tuple(nodes), tuple(networks), region, **options)


class KeyAccounts:
    """Access key id -> owning account (`sts:GetAccessKeyInfo`); only keys of `accounts` pass.

    STS answers for any well-formed key id, active, inactive or deleted, without any
    permission on the key: it says whose key it would be, not that it is valid.
    """

    def __init__(self, sts: Any, accounts: Iterable[str], ttl: float = KEY_ACCOUNT_TTL_S,
                 max_entries: int = KEY_ACCOUNT_ENTRIES) -> None:  # fmt: skip
        self._sts = sts
        self._accounts = frozenset(accounts)
        self._known: TtlCache[str, str] = TtlCache(ttl, max_entries)
        self._lookups = asyncio.Semaphore(STS_LOOKUPS)
        self.calls = 0  # STS calls made

    async def check(self, key_id: str) -> None:
        account = self._known.get(key_id)
        if account is None:
            async with self._lookups:
                account = await asyncio.to_thread(self._lookup, key_id)
            self._known.put(key_id, account)
        if account not in self._accounts:
            refused = f"access key {key_id} belongs to account {account}, not one this server serves"
            raise StreamError(grpc.StatusCode.PERMISSION_DENIED, refused)

    def _lookup(self, key_id: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        self.calls += 1
        try:
            return str(self._sts.get_access_key_info(AccessKeyId=key_id)["Account"])
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            code = error.response.get("Error", {}).get("Code", "")
            if status < 500 and "Throttl" not in code:
                raise StreamError(grpc.StatusCode.PERMISSION_DENIED,
                                  f"STS knows no account for access key {key_id} ({code})") from None  # fmt: skip
            raise StreamError(grpc.StatusCode.UNAVAILABLE, f"STS could not answer for access key {key_id}") from None
        except (BotoCoreError, OSError) as error:
            raise StreamError(grpc.StatusCode.UNAVAILABLE, f"STS unreachable: {type(error).__name__}") from None


class AppMeshCompat:
    """The admission of the App Mesh image's port (`AdsServicer(admission=...)`)."""

    def __init__(self, policy: CompatPolicy, key_accounts: KeyAccounts | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:  # fmt: skip
        self.policy = policy
        self._keys = key_accounts
        self._clock = clock

    async def admit(self, context: Context) -> None:
        """Before the stream reads anything: its source, its signature's claim and, optionally, the key's account."""
        self._check_source(context.peer())
        call = self._check_signature(context.invocation_metadata() or ())
        if self._keys is not None:
            await self._keys.check(call.access_key_id)
        log.info("App Mesh image stream from %s: access key %s (%s) for %s/%s", context.peer(), call.access_key_id,
                 "temporary" if call.temporary else "long-term", call.service, call.region)  # fmt: skip

    def check_node(self, identity: Identity) -> None:
        path = identity.proxy.path
        if not any(fnmatchcase(path, pattern) for pattern in self.policy.nodes):
            raise StreamError(grpc.StatusCode.PERMISSION_DENIED,
                              f"{path} is not among the nodes the App Mesh image port serves")  # fmt: skip

    def _check_source(self, peer: str) -> None:
        address = peer_address(peer)
        if address is None or not any(address in network for network in self.policy.networks):
            raise StreamError(grpc.StatusCode.PERMISSION_DENIED,
                              "the App Mesh image port does not serve this source address")  # fmt: skip

    def _check_signature(self, metadata: Iterable[tuple[str, str | bytes]]) -> SignedCall:
        seen: dict[str, str] = {}
        for key, value in metadata:
            if key in _SIGNED:
                if key in seen:
                    raise StreamError(grpc.StatusCode.UNAUTHENTICATED, f"{key} metadata is given twice")
                seen[key] = value if isinstance(value, str) else value.decode("ascii", "replace")
        try:
            call = read_signed_call(seen)
        except Unsigned as unsigned:
            raise StreamError(grpc.StatusCode.UNAUTHENTICATED, str(unsigned)) from None
        policy = self.policy
        if call.service != policy.signing_name or call.region != policy.region:
            raise StreamError(grpc.StatusCode.UNAUTHENTICATED,
                              f"the signature is scoped to {call.service} in {call.region}, "
                              f"not {policy.signing_name} in {policy.region}")  # fmt: skip
        skew = abs(self._clock() - call.signed_at)
        if skew > policy.max_skew:
            raise StreamError(grpc.StatusCode.UNAUTHENTICATED,
                              f"the signature's x-amz-date is {skew.total_seconds():.0f}s from this server's clock; "
                              f"at most {policy.max_skew.total_seconds():.0f}s are allowed")  # fmt: skip
        return call


def peer_address(peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`ipv4:10.0.0.1:5000` or `ipv6:[::1]:5000` (brackets may come percent-encoded); None for any other peer."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    host = urllib.parse.unquote(rest).rsplit(":", 1)[0].strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address  # a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d


@dataclass(frozen=True)
class CompatPort:
    """Where and how the App Mesh image's port serves; `tls` None: the server's own certificate, no client CA."""

    port: int
    admission: AppMeshCompat
    tls: TlsFiles | None = None
