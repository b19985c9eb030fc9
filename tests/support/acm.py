"""ACM Private CA in moto, issuing ACM private certificates signed by the test CA.

moto's ACM PCA does not sign the certificates ACM issues in its name (they are
self-signed), so `issue` imports a leaf from the test CA and marks it PRIVATE in
moto's backend: then `export_certificate` treats it like a PCA-issued certificate
(exportable, key encrypted under the caller's passphrase) and the chain really
leads to the CA the PCA hands out.
"""

from __future__ import annotations

from typing import Any

from .pki import TestCA

ACCOUNT, REGION = "123456789012", "us-east-1"


class MotoPrivateCa:
    """One ACTIVE ACM PCA whose CA certificate is `ca`'s, plus ACM private certificates it issues."""

    def __init__(self, ca: TestCA, acm: Any, pca: Any, name: str = "meshplane test PCA") -> None:
        self.ca, self._acm = ca, acm
        self.arn = pca.create_certificate_authority(
            CertificateAuthorityType="ROOT",
            CertificateAuthorityConfiguration={
                "KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA",
                "Subject": {"CommonName": name},
            },
        )["CertificateAuthorityArn"]
        pca.import_certificate_authority_certificate(
            CertificateAuthorityArn=self.arn, Certificate=ca.cert_path.read_bytes()
        )

    def issue(self, name: str, dns: tuple[str, ...], *, renew: str | None = None) -> str:
        """A private certificate's ARN; `renew` gives an existing ARN a new certificate, as an ACM renewal does."""
        from moto.acm.models import acm_backends

        leaf = self.ca.issue(name, dns=dns)
        extra = {"CertificateArn": renew} if renew else {}
        arn = self._acm.import_certificate(Certificate=leaf.cert.read_bytes(), PrivateKey=leaf.key.read_bytes(),
                                           CertificateChain=self.ca.cert_path.read_bytes(), **extra)["CertificateArn"]
        bundle = acm_backends[ACCOUNT][REGION].get_certificate(arn)
        bundle.type, bundle.cert_authority_arn = "PRIVATE", self.arn
        return arn
