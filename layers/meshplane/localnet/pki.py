"""A throwaway certificate authority: a root plus leaf certificates with chosen SANs, as PEM files.

App Mesh `file` certificates are paths on the Envoy host, so the demo and the tests
write a CA and key pairs to disk and point meshes (or raw bootstraps) at them.
`trustme` makes the root.  Leaves are signed here because their SANs are whatever a
test needs, which trustme cannot encode: SPIFFE URIs, and a URI spelled as a DNS name
to prove it does not match.  P-256 keys keep generation fast.  Leaves carry both
serverAuth and clientAuth so one certificate serves a sidecar's listener
(STRICT/PERMISSIVE TLS) and its mTLS client side.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=2)
_CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Leaf:
    """A leaf's files: `cert` (leaf only), `chain` (leaf + CA) and `key` (PKCS#8, unencrypted, mode 0600)."""

    name: str
    cert: Path
    chain: Path
    key: Path


class CertificateAuthority:
    """A self-signed root that writes itself (`cert_path`) and the leaves it issues under `directory`."""

    def __init__(self, directory: Path, common_name: str = "meshplane local CA") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        root = trustme.CA(organization_name=common_name, key_type=trustme.KeyType.ECDSA)
        key = serialization.load_pem_private_key(root.private_key_pem.bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        self._key = key
        self._cert = x509.load_pem_x509_certificate(root.cert_pem.bytes())
        self.cert_path = directory / "ca.pem"
        root.cert_pem.write_to_path(str(self.cert_path))

    def issue(self, name: str, dns: Sequence[str] = (), *, uris: Sequence[str] = (), ips: Sequence[str] = ()) -> Leaf:
        """A leaf signed by this CA whose SANs are `dns`, `uris` (e.g. spiffe://...) and `ips`."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.UniformResourceIdentifier(u) for u in uris]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        leaf_pem = cert.public_bytes(serialization.Encoding.PEM)
        paths = Leaf(
            name=name,
            cert=self.directory / f"{name}.pem",
            chain=self.directory / f"{name}-chain.pem",
            key=self.directory / f"{name}-key.pem",
        )
        paths.cert.write_bytes(leaf_pem)
        paths.chain.write_bytes(leaf_pem + self.cert_path.read_bytes())
        paths.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        paths.key.chmod(0o600)
        return paths
