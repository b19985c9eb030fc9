"""ACM certificates and ACM PCA trust: exported by the pipeline into the snapshots of the proxies that use them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from meshplane.model.ids import Kind, ProxyId
from meshplane.pipeline.acm import AcmSecrets
from meshplane.pipeline.acm_boto import BotoAcm
from meshplane.pipeline.publish import Status
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.translate.tls import acm_trust_secret
from meshplane.wirelogs import WIRE_LOGGERS
from support.acm import MotoPrivateCa
from support.pki import TestCA

from .conftest import World
from .test_iam import recording

MESH = "acm"
SECURE = ProxyId(MESH, Kind.VIRTUAL_NODE, "secure")
FRONT = ProxyId(MESH, Kind.VIRTUAL_NODE, "front")
PLAIN = ProxyId(MESH, Kind.VIRTUAL_NODE, "plain")
MISSING = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"


@pytest.fixture
def pca(world: World, tmp_path: Path) -> MotoPrivateCa:
    return MotoPrivateCa(TestCA(tmp_path / "ca"), world.clients.acm, world.clients.acm_pca)


def acm_mesh(world: World, certificate: str, authority: str) -> None:
    """`secure` serves an ACM certificate; `front` trusts the PCA towards it; `plain` has no TLS."""
    world.put(Kind.MESH, MESH, MESH, {})
    tls = {"mode": "STRICT", "certificate": {"acm": {"certificateArn": certificate}}}
    world.put(Kind.VIRTUAL_NODE, MESH, "secure",
              {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}, "tls": tls}]})
    world.put(Kind.VIRTUAL_SERVICE, MESH, "secure.local",
              {"provider": {"virtualNode": {"virtualNodeName": "secure"}}})
    trust = {"trust": {"acm": {"certificateAuthorityArns": [authority]}}}
    world.put(Kind.VIRTUAL_NODE, MESH, "front", {
        "listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}],
        "backends": [{"virtualService": {"virtualServiceName": "secure.local"}}],
        "backendDefaults": {"clientPolicy": {"tls": {"validation": trust}}},
    })
    world.put(Kind.VIRTUAL_NODE, MESH, "plain", {"listeners": [{"portMapping": {"port": 7000, "protocol": "http"}}]})


def secrets(world: World, proxy: ProxyId) -> dict[str, Any]:
    snapshot = world.snapshot(proxy)
    assert snapshot is not None
    return dict(snapshot.of(XdsType.SECRETS))


# ---- the resolver against moto ----------------------------------------------------------


def test_a_certificate_secret_carries_the_chain_the_encrypted_key_and_the_passphrase_that_opens_it(
        world: World, pca: MotoPrivateCa) -> None:
    arn = pca.issue("secure", ("secure.local",))
    acm_mesh(world, arn, pca.arn)
    from meshplane import translate

    state = world.pipeline.recomputer.load(MESH)
    resolved = AcmSecrets(BotoAcm(world.clients)).resolve(translate.translate(state, SECURE), lambda: None, {})
    assert resolved.problems == ()
    secret = resolved.snapshot.of(XdsType.SECRETS)[arn]
    assert isinstance(secret, secret_pb2.Secret) and secret.name == arn
    tls = secret.tls_certificate
    chain = tls.certificate_chain.inline_bytes
    assert chain.startswith(pca.ca.directory.joinpath("secure.pem").read_bytes())
    assert pca.ca.cert_path.read_bytes() in chain
    key = tls.private_key.inline_bytes
    assert key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):  # encrypted: useless without the password
        serialization.load_pem_private_key(key, password=None)
    opened = serialization.load_pem_private_key(key, password=tls.password.inline_bytes)
    assert opened.public_key() == serialization.load_pem_private_key(
        pca.ca.directory.joinpath("secure-key.pem").read_bytes(), password=None).public_key()
    assert set(resolved.stamps) == {arn}


def test_each_export_has_its_own_passphrase(world: World, pca: MotoPrivateCa) -> None:
    arn = pca.issue("secure", ("secure.local",))
    acm_mesh(world, arn, pca.arn)
    from meshplane import translate

    snapshot = translate.translate(world.pipeline.recomputer.load(MESH), SECURE)
    first, second = (AcmSecrets(BotoAcm(world.clients)).resolve(snapshot, lambda: None, {}) for _ in range(2))
    one, two = (r.snapshot.of(XdsType.SECRETS)[arn].tls_certificate for r in (first, second))
    assert one.password.inline_bytes != two.password.inline_bytes
    assert one.private_key.inline_bytes != two.private_key.inline_bytes


def test_a_trust_secret_holds_every_ca_certificate_of_the_list(world: World, pca: MotoPrivateCa,
                                                               tmp_path: Path) -> None:
    other = MotoPrivateCa(TestCA(tmp_path / "other", "other CA"), world.clients.acm, world.clients.acm_pca, "other")
    arn = pca.issue("secure", ("secure.local",))
    acm_mesh(world, arn, pca.arn)
    world.put(Kind.VIRTUAL_NODE, MESH, "front", {
        "backends": [{"virtualService": {"virtualServiceName": "secure.local"}}],
        "backendDefaults": {"clientPolicy": {"tls": {"validation": {
            "trust": {"acm": {"certificateAuthorityArns": [pca.arn, other.arn]}}}}}},
    })
    from meshplane import translate

    snapshot = translate.translate(world.pipeline.recomputer.load(MESH), FRONT)
    resolved = AcmSecrets(BotoAcm(world.clients)).resolve(snapshot, lambda: None, {})
    name = acm_trust_secret([pca.arn, other.arn])
    trusted = resolved.snapshot.of(XdsType.SECRETS)[name].validation_context.trusted_ca.inline_bytes
    assert pca.ca.cert_path.read_bytes() in trusted and other.ca.cert_path.read_bytes() in trusted
    assert resolved.problems == () and resolved.stamps == {}


@pytest.mark.parametrize("case", ["not found", "not exportable"])
def test_a_certificate_acm_refuses_is_a_problem_of_that_proxy(world: World, pca: MotoPrivateCa, case: str) -> None:
    if case == "not found":
        arn = MISSING
    else:  # an imported certificate: ACM exports only private ones
        leaf = pca.ca.issue("imported", dns=("secure.local",))
        arn = world.clients.acm.import_certificate(Certificate=leaf.cert.read_bytes(),
                                                   PrivateKey=leaf.key.read_bytes())["CertificateArn"]
    acm_mesh(world, arn, pca.arn)
    from meshplane import translate

    snapshot = translate.translate(world.pipeline.recomputer.load(MESH), SECURE)
    resolved = AcmSecrets(BotoAcm(world.clients)).resolve(snapshot, lambda: None, {})
    assert len(resolved.problems) == 1 and arn in resolved.problems[0], resolved.problems
    assert arn not in resolved.snapshot.of(XdsType.SECRETS)


# ---- through the pipeline -----------------------------------------------------------------


def test_a_listener_with_an_acm_certificate_publishes_the_secret_to_that_proxy_only(
        world: World, pca: MotoPrivateCa) -> None:
    arn = pca.issue("secure", ("secure.local",))
    acm_mesh(world, arn, pca.arn)
    world.recompute()
    assert set(secrets(world, SECURE)) == {arn}
    assert set(secrets(world, FRONT)) == {acm_trust_secret([pca.arn])}
    assert secrets(world, PLAIN) == {}
    announced = {a["nodeId"]: a for a in world.announcements()}
    assert "secrets" in announced[SECURE.path]["changedTypes"]


def test_acm_refusing_a_certificate_keeps_the_last_good_snapshot(world: World, pca: MotoPrivateCa) -> None:
    arn = pca.issue("secure", ("secure.local",))
    acm_mesh(world, arn, pca.arn)
    world.recompute()
    good = world.pipeline.pointers.get(SECURE.path)
    world.put(Kind.VIRTUAL_NODE, MESH, "secure", {"listeners": [{
        "portMapping": {"port": 8080, "protocol": "http"},
        "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": MISSING}}}}]})
    world.recompute()
    assert world.pipeline.pointers.get(SECURE.path) == good
    rejected = [line for line in world.logs() if line.get("message") == "snapshot rejected; the last good one stays"]
    assert any(MISSING in problem for line in rejected for problem in line["problems"]), rejected


def test_an_endpoints_only_publish_makes_no_acm_call(world: World, pca: MotoPrivateCa) -> None:
    acm_mesh(world, pca.issue("secure", ("secure.local",)), pca.arn)
    world.recompute()
    with recording(world) as calls:
        outcome = world.pipeline.recomputer.recompute(MESH, endpoint_nodes=["secure"])
    assert [r.proxy for r in outcome.results] == [FRONT]
    assert {call for call in calls if call.startswith("acm")} == set()


def test_a_rebuild_keeps_an_unrenewed_certificate_and_publishes_nothing(world: World, pca: MotoPrivateCa) -> None:
    acm_mesh(world, pca.issue("secure", ("secure.local",)), pca.arn)
    world.recompute()
    world.announcements()
    with recording(world) as calls:
        outcome = world.pipeline.recomputer.recompute(MESH, full=True)
    assert {r.status for r in outcome.results} == {Status.UNCHANGED}
    assert "acm:ExportCertificate" not in calls and "acm:DescribeCertificate" in calls
    assert world.announcements() == []


def test_the_reconcile_republishes_the_proxy_whose_certificate_acm_renewed(world: World, pca: MotoPrivateCa) -> None:
    arn = pca.issue("secure", ("secure.local",))
    acm_mesh(world, arn, pca.arn)
    world.recompute()
    before: Snapshot | None = world.snapshot(SECURE)
    assert before is not None
    stamp = world.pipeline.pointers.get(SECURE.path).certificates[arn]  # type: ignore[union-attr]
    world.announcements()
    pca.issue("secure-renewed", ("secure.local",), renew=arn)
    summary = world.reconcile()
    assert summary["published"] == [SECURE.path]
    renewed = secrets(world, SECURE)[arn].tls_certificate.certificate_chain.inline_bytes
    assert renewed.startswith(pca.ca.directory.joinpath("secure-renewed.pem").read_bytes())
    assert world.pipeline.pointers.get(SECURE.path).certificates[arn] != stamp  # type: ignore[union-attr]
    assert [a["changedTypes"] for a in world.announcements()] == [["secrets"]]


def test_exported_keys_and_their_passphrases_are_never_logged_even_at_debug(
        world: World, pca: MotoPrivateCa, caplog: pytest.LogCaptureFixture) -> None:
    reset_wire_loggers()  # another test may have raised them already
    world.pipeline.telemetry.logger.setLevel("DEBUG")
    caplog.set_level("DEBUG")
    arn = pca.issue("secure", ("secure.local",))
    acm_mesh(world, arn, pca.arn)
    world.recompute()
    tls = secrets(world, SECURE)[arn].tls_certificate
    passphrase = tls.password.inline_bytes.decode()
    key_body = tls.private_key.inline_bytes.decode().splitlines()[1]  # the first line of base64 key material
    logged = world.log_stream.getvalue() + caplog.text
    assert world.logs(), "the pipeline logged nothing: the check would prove nothing"
    for secret in (passphrase, key_body, "PRIVATE KEY"):
        assert secret not in logged


def reset_wire_loggers() -> None:
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
