"""The node CA signs a proxy's key into a client-only certificate that names its node and principal, nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from meshplane.identity.ca import CsrRejected, NodeCA, load_csr

NODE = "arn:aws:appmesh:us-east-1:123456789012:mesh/m/virtualNode/a"
ROLE = "arn:aws:iam::123456789012:role/proxy"


def csr_pem(key: object, *, sans: tuple[str, ...] = ()) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mesh/m/virtualNode/b")])
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(s) for s in sans]), critical=False
        )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()  # type: ignore[arg-type]


def test_a_node_certificate_names_node_and_principal_only_and_serves_client_auth_only() -> None:
    ca, key = NodeCA.generate(), ec.generate_private_key(ec.SECP256R1())
    other = "arn:aws:appmesh:us-east-1:123456789012:mesh/m/virtualNode/b"
    certificate = ca.issue_node(load_csr(csr_pem(key, sans=(other,))), NODE, ROLE, dt.timedelta(hours=1))
    certificate.verify_directly_issued_by(ca.certificate)
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [NODE, ROLE], "the CSR's own names are ignored"
    assert sans.get_values_for_type(x509.DNSName) == []
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert certificate.public_key() == key.public_key()
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime == dt.timedelta(hours=1, minutes=5), "one hour, started five minutes early for clock skew"


def test_no_certificate_outlives_the_ca() -> None:
    ca = NodeCA.generate(validity=dt.timedelta(minutes=30))
    certificate = ca.issue_node(load_csr(csr_pem(ec.generate_private_key(ec.SECP256R1()))), NODE, ROLE,
                                dt.timedelta(hours=1))  # fmt: skip
    assert certificate.not_valid_after_utc == ca.certificate.not_valid_after_utc


def test_the_server_certificate_serves_server_auth_for_its_name() -> None:
    ca = NodeCA.generate()
    for name, kind in (("ads.example.internal", x509.DNSName), ("127.0.0.1", x509.IPAddress)):
        pair = ca.issue_server(name, dt.timedelta(days=7))
        leaf = x509.load_pem_x509_certificates(pair.chain)[0]
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert [str(v) for v in sans.get_values_for_type(kind)] == [name]
        assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
            ExtendedKeyUsageOID.SERVER_AUTH
        ]


def test_the_ca_survives_a_round_trip_through_pem() -> None:
    ca = NodeCA.generate()
    again = NodeCA.from_pem(ca.certificate_pem, ca.key_pem)
    assert again.certificate == ca.certificate
    with pytest.raises(ValueError, match="does not match"):
        NodeCA.from_pem(ca.certificate_pem, NodeCA.generate().key_pem)


def test_csrs_with_keys_envoy_cannot_use_or_broken_signatures_are_rejected() -> None:
    for key in (ed25519.Ed25519PrivateKey.generate(), rsa.generate_private_key(65537, 1024),
                ec.generate_private_key(ec.SECP521R1())):  # fmt: skip
        with pytest.raises(CsrRejected, match="key must be"):
            load_csr(csr_pem(key))
    for garbage in ("", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "x" * 100):
        with pytest.raises(CsrRejected, match="one PEM"):
            load_csr(garbage)
    good = x509.load_pem_x509_csr(csr_pem(ec.generate_private_key(ec.SECP256R1())).encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # flip a bit of the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(CsrRejected):
        load_csr(tampered)
