"""`AcmSource` over boto3's `acm` and `acm-pca` clients: the AWS edge of `pipeline/acm.py`.

The clients are taken from the pipeline's client holder on first call, so a batch
without ACM references never builds them.  Every refusal (not found, not
exportable, access denied, throttled past the retries, unreachable) becomes
`AcmRefused`, which rejects only the proxies that need that ARN.
An export's request and response carry the passphrase and the key: see `meshplane.wirelogs`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from meshplane.pipeline.acm import AcmRefused, ExportedCertificate
from meshplane.wirelogs import keep_bodies_out_of_logs

T = TypeVar("T")


def _asked(arn: str, call: Callable[[], T]) -> T:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AcmRefused(arn, f"{error.get('Code', 'Error')}: {error.get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise AcmRefused(arn, f"{type(exc).__name__}: {exc}") from exc


class BotoAcm:
    """ACM exports and describes certificates; ACM PCA hands out CA certificates."""

    def __init__(self, clients: Any) -> None:
        self._clients = clients  # an AwsClients: `.acm` and `.acm_pca` are made on first use

    def export_certificate(self, arn: str, passphrase: bytes) -> ExportedCertificate:
        keep_bodies_out_of_logs()
        answer = _asked(arn, lambda: self._clients.acm.export_certificate(CertificateArn=arn, Passphrase=passphrase))
        return ExportedCertificate(answer["Certificate"], answer.get("CertificateChain", ""), answer["PrivateKey"])

    def certificate_stamp(self, arn: str) -> str:
        described = _asked(arn, lambda: self._clients.acm.describe_certificate(CertificateArn=arn))["Certificate"]
        not_after = described.get("NotAfter")
        return f"{described.get('Serial', '')}@{not_after.isoformat() if not_after else ''}"

    def authority_certificate(self, arn: str) -> str:
        answer = _asked(
            arn, lambda: self._clients.acm_pca.get_certificate_authority_certificate(CertificateAuthorityArn=arn)
        )
        return "\n".join(part for part in (answer["Certificate"], answer.get("CertificateChain", "")) if part)
