"""The credentials agent: a new key per renewal, installed as a generation Envoy can swap to atomically,
renewal at half-life, and on failure retries with backoff while the last certificate stays in place."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from meshplane.identity.agent import AgentConfig, IdentityAgent
from meshplane.identity.layout import CERTIFICATE_SECRET, TRUSTED_CA_SECRET, IdentityLayout
from meshplane.identity.server import NodeIdentity

from .conftest import NODE, NODE_ARN, REGION, SERVER, Aws, GrantingIam, serving


@pytest.fixture
def identity(aws: Aws, iam: GrantingIam) -> Iterator[NodeIdentity]:
    with serving(aws, iam) as served:
        yield served


@pytest.fixture
def renewing(aws: Aws, iam: GrantingIam, identity: NodeIdentity, tmp_path: Path) -> IdentityAgent:
    """An agent of a role IAM lets be NODE, installing into tmp_path/id."""
    role, credentials = aws.role()
    iam.grants.add((role, NODE_ARN))
    config = AgentConfig(NODE, ("127.0.0.1", identity.port), SERVER, SERVER, aws.endpoint, REGION)
    return IdentityAgent(config, IdentityLayout(tmp_path / "id"), lambda: credentials,
                         lambda: identity.ca.certificate_pem)  # fmt: skip


def test_a_renewal_installs_key_certificate_and_ca_as_one_generation_behind_the_current_link(
    renewing: IdentityAgent, identity: NodeIdentity
) -> None:
    layout = renewing.layout
    renewing.renew()
    assert layout.current.is_symlink() and not Path(layout.current.readlink()).is_absolute()
    certificate = x509.load_pem_x509_certificate(layout.certificate.read_bytes())
    key = serialization.load_pem_private_key(layout.private_key.read_bytes(), None)
    assert certificate.public_key() == key.public_key()  # type: ignore[union-attr]
    assert stat.S_IMODE(layout.private_key.stat().st_mode) == 0o600
    assert layout.trusted_ca.read_bytes() == identity.ca.certificate_pem
    secret = json.loads(layout.certificate_sds.read_text())["resources"][0]
    assert secret["name"] == CERTIFICATE_SECRET
    assert secret["tlsCertificate"]["certificateChain"]["filename"] == str(layout.certificate)
    assert secret["tlsCertificate"]["watchedDirectory"]["path"] == str(layout.root)
    assert json.loads(layout.trusted_ca_sds.read_text())["resources"][0]["name"] == TRUSTED_CA_SECRET


def test_each_renewal_is_a_new_key_and_old_generations_are_pruned_but_the_previous_one(
    renewing: IdentityAgent,
) -> None:
    layout = renewing.layout
    keys = set()
    for _ in range(3):
        renewing.renew()
        keys.add(layout.private_key.read_bytes())
    assert len(keys) == 3
    generations = sorted(p.name for p in layout.root.glob("gen-*"))
    assert len(generations) == 2 and layout.current.readlink().name == generations[-1]


class Waits:
    """The agent's `stopped(seconds)`: records each wait and stops after `limit` of them."""

    def __init__(self, limit: int, on_wait: Any = None) -> None:
        self.seconds: list[float] = []
        self._limit, self._on_wait = limit, on_wait

    def __call__(self, seconds: float) -> bool:
        self.seconds.append(seconds)
        if self._on_wait:
            self._on_wait(len(self.seconds))
        return len(self.seconds) >= self._limit


def test_a_failed_renewal_keeps_the_last_certificate_and_retries_with_growing_backoff(
    renewing: IdentityAgent, identity: NodeIdentity
) -> None:
    renewing.renew()
    before = renewing.layout.certificate.read_bytes()
    identity.stop()  # from now on the exchange is out of reach
    waits = Waits(5)
    assert renewing.run(waits) is False
    assert renewing.failures == 5
    assert renewing.layout.certificate.read_bytes() == before
    assert all(0.8 * 2**i <= w <= 1.2 * 2**i for i, w in enumerate(waits.seconds)), waits.seconds  # ±20% jitter


def test_renewal_waits_half_the_lifetime_and_recovers_after_failures(
    renewing: IdentityAgent, identity: NodeIdentity
) -> None:
    identity.identity_port = identity.port
    identity.stop()

    def back_after_two_failures(count: int) -> None:
        if count == 2:
            identity.serve("127.0.0.1", 0)

    waits = Waits(3, back_after_two_failures)
    assert renewing.run(waits) is True
    assert renewing.failures == 2 and renewing.renewals == 1
    assert 1790 < waits.seconds[-1] < 1810, "half of the one-hour lifetime"
    assert renewing.layout.has_credentials()
