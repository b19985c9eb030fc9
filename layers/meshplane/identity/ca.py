"""The meshplane node CA: it signs proxies' CSRs into short-lived client certificates, and the server's own.

A node certificate carries two URI SANs: the node's App Mesh ARN (the only node its holder
may be) and the IAM principal it was issued to, so the ADS can ask IAM again on every
stream. Its key usage is client authentication only, so no proxy can pose as the server;
the server certificate is the only one with server authentication and DNS/IP names.
The CA signs nothing else, so trusting it for ADS trusts nothing beyond ADS.
P-256 keys: fast to make, accepted by Envoy and gRPC alike.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = dt.timedelta(days=3650)
CLOCK_SKEW = dt.timedelta(minutes=5)  # certificates start this early, for hosts whose clocks run behind
ACCEPTED_CURVES = (ec.SECP256R1, ec.SECP384R1)
RSA_BITS = (2048, 4096)


class CsrRejected(ValueError):
    """A CSR that is not PEM, not self-signed by its key, or has a key type Envoy cannot use."""


@dataclass(frozen=True)
class KeyPair:
    """A certificate chain and its private key as PEM, with the certificate's validity."""

    chain: bytes
    key: bytes
    not_before: dt.datetime
    not_after: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def _key_usage(*, sign_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, key_cert_sign=sign_certificates, crl_sign=sign_certificates, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])


def load_csr(pem: str) -> x509.CertificateSigningRequest:
    """Parse and check a CSR; only its public key is used, every name comes from the server."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
        valid = csr.is_signature_valid
        key = csr.public_key()
    except (ValueError, TypeError, InvalidSignature):
        raise CsrRejected("csr must be one PEM certificate signing request") from None
    if not valid:
        raise CsrRejected("csr is not signed by its own key")
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ACCEPTED_CURVES):
        return csr
    if isinstance(key, rsa.RSAPublicKey) and RSA_BITS[0] <= key.key_size <= RSA_BITS[1]:
        return csr
    raise CsrRejected("csr key must be ECDSA P-256/P-384 or RSA 2048 to 4096 bits")


class NodeCA:
    def __init__(self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        if not constraints.ca:
            raise ValueError("the node CA certificate is not a CA")
        if certificate.public_key() != key.public_key():
            raise ValueError("the node CA key does not match its certificate")
        self.certificate = certificate
        self._key = key

    @classmethod
    def generate(cls, common_name: str = "meshplane node CA", validity: dt.timedelta = CA_VALIDITY) -> NodeCA:
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        certificate = (
            x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(sign_certificates=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        return cls(certificate, key)

    @classmethod
    def from_pem(cls, certificate: bytes, key: bytes) -> NodeCA:
        private = serialization.load_pem_private_key(key, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError("the node CA key must be an EC key")
        return cls(x509.load_pem_x509_certificate(certificate), private)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self._key)

    def issue_node(self, csr: x509.CertificateSigningRequest, node_arn: str, principal_arn: str,
                   lifetime: dt.timedelta, now: dt.datetime | None = None) -> x509.Certificate:  # fmt: skip
        """A client certificate for the CSR's key that names `node_arn` and `principal_arn` (URI SANs)."""
        sans: list[x509.GeneralName] = [
            x509.UniformResourceIdentifier(node_arn), x509.UniformResourceIdentifier(principal_arn)
        ]
        return self._sign(csr.public_key(), node_arn.rpartition(":")[2], sans, ExtendedKeyUsageOID.CLIENT_AUTH,
                          lifetime, now)  # fmt: skip

    def issue_server(self, name: str, lifetime: dt.timedelta, now: dt.datetime | None = None) -> KeyPair:
        """A fresh key and a server certificate for `name` (a DNS name, or an IP address)."""
        key = ec.generate_private_key(ec.SECP256R1())
        try:
            san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            san = x509.DNSName(name)
        certificate = self._sign(key.public_key(), name, [san], ExtendedKeyUsageOID.SERVER_AUTH, lifetime, now)
        chain = certificate.public_bytes(serialization.Encoding.PEM) + self.certificate_pem
        return KeyPair(chain, _key_pem(key), certificate.not_valid_before_utc, certificate.not_valid_after_utc)

    def _sign(self, public_key: CertificatePublicKeyTypes, common_name: str, sans: list[x509.GeneralName],
              usage: x509.ObjectIdentifier, lifetime: dt.timedelta,
              now: dt.datetime | None) -> x509.Certificate:  # fmt: skip
        now = now or _now()
        not_after = min(now + lifetime, self.certificate.not_valid_after_utc)
        return (
            x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(self.certificate.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(sign_certificates=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
