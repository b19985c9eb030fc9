"""ACM certificates and ACM PCA trust as the ADS secrets a proxy's snapshot references.

The translator names an ACM certificate's secret by its ARN and a PCA trust list by
its CA ARNs (`translate.tls`); this module supplies those secrets, so each proxy's
snapshot carries exactly the key material its own listeners and clusters use.

Why the private key stays encrypted: ACM exports it as encrypted PKCS#8 under a
passphrase chosen per export, and Envoy decrypts it itself with the secret's
`password`, so the layer needs no crypto library and never holds a clear key.

Why exports are reused: each export has a fresh passphrase (and ciphertext), so
exporting on every rebuild would change the snapshot and republish every TLS
proxy on every reconcile.  A certificate is exported again only when ACM reports a
different serial or expiry (a renewal) than the one the last snapshot carries; the
stamps ride on the proxy pointer.  CA certificates are public and deterministic,
so they are simply read again.

Why a home: the control plane's roles may export any certificate of the account, so an
ARN of another account, region or partition is refused here, before ACM is asked, even
if a spec holding one got past the API's write-time check.

Pure core: ACM and ACM PCA are behind `AcmSource` (`pipeline/acm_boto.py` for boto3).
The translator's secret names are read back with `translate.tls` when a snapshot names a
secret: importing it runs `translate/__init__`, which loads the whole translator, and a
module that only needs `AcmRefused` (`acm_boto`) or resolves no secret has no use for that.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from meshplane.model.acm_arns import AUTHORITY, CERTIFICATE, Home
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.transform import ads_secret_refs
from meshplane.snapshot.types import XdsType

T = TypeVar("T")


class AcmRefused(Exception):
    """ACM or ACM PCA refused an ARN (not found, not exportable, access denied, unavailable)."""

    def __init__(self, arn: str, reason: str) -> None:
        super().__init__(f"{arn}: {reason}")
        self.arn, self.reason = arn, reason


@dataclass(frozen=True)
class ExportedCertificate:
    """`acm:ExportCertificate`'s answer: PEM certificate, its chain, and the encrypted PKCS#8 key."""

    certificate: str
    chain: str
    private_key: str


class AcmSource(Protocol):
    """What the pipeline asks of ACM and ACM PCA; every method raises AcmRefused when refused."""

    def export_certificate(self, arn: str, passphrase: bytes) -> ExportedCertificate: ...

    def certificate_stamp(self, arn: str) -> str:
        """Changes whenever ACM renews the certificate (serial and expiry)."""
        ...

    def authority_certificate(self, arn: str) -> str:
        """The CA's PEM certificate followed by its chain, when it has one."""
        ...


@dataclass(frozen=True)
class Resolution:
    """The snapshot with its ACM secrets, the stamps of the certificates it carries, and what failed."""

    snapshot: Snapshot
    stamps: Mapping[str, str]
    problems: tuple[str, ...] = ()


def new_passphrase() -> bytes:
    """32 URL-safe characters: ACM refuses `#`, `$` and `%` in a passphrase."""
    return secrets.token_urlsafe(24).encode()


def pem_bundle(*parts: str) -> bytes:
    """PEM blocks joined one after another, each ending in a newline."""
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts if part.strip()).encode()


def certificate_secret(name: str, exported: ExportedCertificate, passphrase: bytes) -> secret_pb2.Secret:
    return secret_pb2.Secret(
        name=name,
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_bytes=pem_bundle(exported.certificate, exported.chain)),
            private_key=base_pb2.DataSource(inline_bytes=exported.private_key.encode()),
            password=base_pb2.DataSource(inline_bytes=passphrase),
        ),
    )


def trust_secret(name: str, authorities: list[str]) -> secret_pb2.Secret:
    return secret_pb2.Secret(
        name=name,
        validation_context=common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(inline_bytes=pem_bundle(*authorities))
        ),
    )


class AcmSecrets:
    """Resolves the ACM secrets of the proxies of one recompute batch.

    One instance per batch: it remembers each ARN's answer (or refusal), so proxies
    that share a certificate or CA cost one ACM call per batch, and a renewal seen
    mid-batch reaches all of them alike.
    """

    def __init__(self, source: AcmSource, passphrase: Callable[[], bytes] = new_passphrase, *,
                 home: Home | None = None) -> None:
        """`home`: the partition, region and account whose ARNs may be asked for (None: any)."""
        self._source = source if home is None else _HomeOnly(source, home)
        self._passphrase = passphrase
        self._stamps: dict[str, str | AcmRefused] = {}
        self._exports: dict[str, secret_pb2.Secret | AcmRefused] = {}
        self._authorities: dict[str, str | AcmRefused] = {}

    def resolve(
        self, snapshot: Snapshot, previous: Callable[[], Snapshot | None], stamps: Mapping[str, str]
    ) -> Resolution:
        """`snapshot` plus the secrets its ADS references name; `previous` loads the last published one.

        `stamps` are the certificate stamps of that last snapshot: a certificate whose
        stamp is unchanged keeps its previously exported secret.
        """
        refs = {ref.name: ref for ref in ads_secret_refs(snapshot)}
        if not refs:
            return Resolution(snapshot, {})
        from meshplane.translate.tls import acm_certificate_arn
        carried = _Lazy(previous)
        found: dict[str, secret_pb2.Secret] = {}
        kept: dict[str, str] = {}
        problems: list[str] = []
        for name, ref in sorted(refs.items()):
            try:
                if ref.validation:
                    found[name] = self._trust(name)
                    continue
                arn = acm_certificate_arn(name)
                stamp = self._remembered(self._stamps, arn, self._source.certificate_stamp)
                kept_secret = carried.secret(name) if stamps.get(arn) == stamp else None
                found[name] = kept_secret if kept_secret is not None else self._export(name)
                kept[arn] = stamp
            except AcmRefused as refused:
                what = "trust for CA" if ref.validation else "certificate"
                problems.append(f"ACM {what} {refused.arn} for {ref.where} is unavailable: {refused.reason}")
        resources = {**snapshot.resources, XdsType.SECRETS: found}
        return Resolution(Snapshot.build(snapshot.node_id, resources), kept, tuple(problems))

    def _export(self, name: str) -> secret_pb2.Secret:
        from meshplane.translate.tls import acm_certificate_arn

        def export(arn: str) -> secret_pb2.Secret:
            passphrase = self._passphrase()
            return certificate_secret(name, self._source.export_certificate(arn, passphrase), passphrase)

        return self._remembered(self._exports, acm_certificate_arn(name), export)

    def _trust(self, name: str) -> secret_pb2.Secret:
        from meshplane.translate.tls import acm_trust_arns

        ask = self._source.authority_certificate
        pems = [self._remembered(self._authorities, arn, ask) for arn in acm_trust_arns(name)]
        return trust_secret(name, pems)

    @staticmethod
    def _remembered(memo: dict[str, T | AcmRefused], arn: str, ask: Callable[[str], T]) -> T:
        if arn not in memo:
            try:
                memo[arn] = ask(arn)
            except AcmRefused as refused:
                memo[arn] = refused
        answer = memo[arn]
        if isinstance(answer, AcmRefused):
            raise answer
        return answer


class _HomeOnly:
    """An AcmSource that refuses ARNs outside `home` without asking ACM."""

    def __init__(self, source: AcmSource, home: Home) -> None:
        self._source, self._home = source, home

    def _checked(self, arn: str, kind: str) -> str:
        reason = self._home.refusal(arn, kind)
        if reason is not None:
            raise AcmRefused(arn, f"not exported: {reason}")
        return arn

    def export_certificate(self, arn: str, passphrase: bytes) -> ExportedCertificate:
        return self._source.export_certificate(self._checked(arn, CERTIFICATE), passphrase)

    def certificate_stamp(self, arn: str) -> str:
        return self._source.certificate_stamp(self._checked(arn, CERTIFICATE))

    def authority_certificate(self, arn: str) -> str:
        return self._source.authority_certificate(self._checked(arn, AUTHORITY))


class _Lazy:
    """The last published snapshot's secrets, loaded from S3 only if an unchanged certificate needs them."""

    def __init__(self, load: Callable[[], Snapshot | None]) -> None:
        self._load = load
        self._secrets: Mapping[str, object] | None = None

    def secret(self, name: str) -> secret_pb2.Secret | None:
        if self._secrets is None:
            last = self._load()
            self._secrets = last.of(XdsType.SECRETS) if last is not None else {}
        found = self._secrets.get(name)
        return found if isinstance(found, secret_pb2.Secret) else None
