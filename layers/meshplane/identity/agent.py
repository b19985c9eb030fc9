"""`meshplane identity`: keep a proxy's ADS client certificate fresh in its identity directory.

Each renewal makes a new P-256 key and CSR on this host (the key never leaves it),
proves the host's IAM principal with the default credential chain (ECS task role, EC2
instance role, ...), calls the exchange and installs key, certificate and CA as a new
generation (`layout.install`). It renews when half the certificate's lifetime is over;
on failure it retries with capped exponential backoff and jitter, and the old
certificate stays in place meanwhile. Envoy needs it only to open an ADS stream: on
its last config it keeps serving traffic whatever happens here.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshplane.identity.client import Issued, request_credentials
from meshplane.identity.defaults import RETRY_MAX_S
from meshplane.identity.layout import IdentityLayout, install
from meshplane.identity.proof import key_digest, sign_proof

log = logging.getLogger(__name__)
RENEW_FRACTION = 0.5
RETRY_BASE_S = 1.0


@dataclass(frozen=True)
class AgentConfig:
    node_id: str
    exchange_address: tuple[str, int]
    server_name: str
    server_id: str
    sts_url: str
    region: str
    renew_fraction: float = RENEW_FRACTION
    retry_max_s: float = RETRY_MAX_S


def make_csr(key: ec.EllipticCurvePrivateKey, node_id: str) -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id[-64:])])
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )


class IdentityAgent:
    def __init__(self, config: AgentConfig, layout: IdentityLayout, credentials: Callable[[], Any],
                 trusted_ca: Callable[[], bytes], clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.config = config
        self.layout = layout
        self._credentials = credentials
        self._trusted_ca = trusted_ca
        self._clock = clock
        self.renewals = 0
        self.failures = 0

    def renew(self) -> Issued:
        """One exchange; the new generation is live when it returns."""
        c = self.config
        ca = self._trusted_ca()
        key = ec.generate_private_key(ec.SECP256R1())
        proof = sign_proof(self._credentials(), c.sts_url, c.region, c.server_id, key_digest(key.public_key()))
        issued = request_credentials(c.exchange_address, c.server_name, ca, c.node_id, make_csr(key, c.node_id), proof)
        certificate = x509.load_pem_x509_certificate(issued.chain.encode())
        if certificate.public_key() != key.public_key():
            raise ValueError("the exchange answered with a certificate for another key")
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())  # fmt: skip
        install(self.layout, issued.chain.encode(), key_pem, ca)
        self.renewals += 1
        log.info("installed certificate %x for %s, valid until %s", certificate.serial_number, c.node_id,
                 certificate.not_valid_after_utc.isoformat())  # fmt: skip
        return issued

    def _renew_at(self, issued: Issued) -> float:
        now = self._clock()
        return now + max(1.0, (issued.expires_at - now) * self.config.renew_fraction)

    def run(self, stopped: Callable[[float], bool], once: bool = False) -> bool:
        """Renew forever (or until the first success with `once`); `stopped(seconds)` waits and says whether to stop.

        Returns whether a certificate was installed by the last attempt.
        """
        attempt = 0
        while True:
            try:
                issued = self.renew()
            except Exception as exc:  # exchange refused or unreachable, STS/S3 unreachable: keep the old one
                self.failures += 1
                attempt += 1
                delay = min(self.config.retry_max_s, RETRY_BASE_S * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
                log.warning("renewing the certificate of %s failed (attempt %d, again in %.1fs): %s",
                            self.config.node_id, attempt, delay, exc)  # fmt: skip
                if stopped(delay):
                    return False
                continue
            attempt = 0
            if once or stopped(self._renew_at(issued) - self._clock()):
                return True
