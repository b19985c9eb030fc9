"""A real Envoy, bootstrapped for a secure ADS and fed by the real `meshplane identity` agent, gets its config over
TLS with a node certificate, carries traffic, keeps doing so while certificates rotate, and keeps serving its last
config when renewal fails, the certificate expires and the server goes away; it recovers once the exchange is back.

AWS is the local stack's moto (STS, S3, SQS, and the IAM policy simulator the local stack adds)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from authz.iamlab import IamLab, iam_lab
from delivery.harness import Aws, Publisher, ThreadedAds, Traffic, counter, wait_live
from delivery.scenario import APP_PORT, SERVICE, Scenario
from delivery.secure import SERVER, lab_aws, node_identity, role_for
from delivery.test_ads_traffic import answered_by, eventually_answered_by
from google.protobuf import json_format
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions
from meshplane.identity.layout import IdentityLayout
from meshplane.identity.server import NodeIdentity
from meshplane.identity.store import publish_ca
from support import Envoy, EnvoyRunner, Lab, wait_until
from support.fixtures import envoy_runner, lab
from support.ports import free_port

__all__ = ["envoy_runner", "lab"]
pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("identity-envoy")]  # one IAM lab for the module
MESHPLANE = str(Path(sys.executable).with_name("meshplane"))
RECONNECT_TIMEOUT_S = 40.0  # what the tests prove is that traffic never fails and recovers, not how fast


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamLab]:
    with iam_lab(tmp_path_factory.mktemp("emulator")) as opened:
        yield opened


class Agent:
    """`meshplane identity` as the sidecar runs it, with the task role's session credentials."""

    def __init__(self, emulator: IamLab, aws: Aws, node: str, identity: NodeIdentity, directory: Path) -> None:
        self.layout = IdentityLayout(directory)
        session = emulator.session(role_for(emulator, node).rpartition("/")[2])
        self._command = [MESHPLANE, "identity", "--node-id", node, "--exchange-address", f"127.0.0.1:{identity.port}",
                         "--server-name", SERVER, "--dir", str(directory), "--retry-max-seconds", "1"]  # fmt: skip
        self._env = {
            **os.environ, **aws.env(), "AWS_ACCESS_KEY_ID": session.access_key,
            "AWS_SECRET_ACCESS_KEY": session.secret_key, "AWS_SESSION_TOKEN": session.session_token or "",
        }  # fmt: skip
        self.log = directory.parent / "identity.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Agent:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self._command, env=self._env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.layout.has_credentials, 30, what=f"a first certificate:\n{self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class SecureAds:
    """The ADS with node identity, restartable on the same ports (or with the exchange moved out of reach)."""

    def __init__(self, aws: Aws, identity: NodeIdentity) -> None:
        self.aws, self.identity = aws, identity
        self.server = ThreadedAds(aws, identity=identity)
        self.port, self.exchange_port = self.server.port, identity.port

    def restart(self, exchange_port: int | None = None) -> ThreadedAds:
        """Stop (every connection ends) and start again; `exchange_port` moves the exchange elsewhere."""
        self.server.stop()
        self.identity.identity_port = exchange_port or self.exchange_port
        self.server = ThreadedAds(self.aws, port=self.port, identity=self.identity)
        return self.server


@pytest.fixture
def secure_front(emulator: IamLab, lab: Lab, envoy_runner: EnvoyRunner, tmp_path: Path) -> Iterator[
    tuple[Scenario, Publisher, SecureAds, Agent, Envoy, str]
]:  # fmt: skip
    """Scenario's front Envoy over a secure ADS, its node certificates living 6 s (renewed every ~3 s)."""
    aws = lab_aws(emulator)
    identity = node_identity(emulator, node_cert_lifetime=dt.timedelta(seconds=6))
    publish_ca(emulator.client("s3"), aws.bucket, identity.ca)
    ads = SecureAds(aws, identity)
    scenario, publisher = Scenario.two_versions(lab), Publisher(aws)
    publisher.publish(scenario.snapshot())
    agent = Agent(emulator, aws, scenario.front.path, identity, tmp_path / "identity").start()
    address = lab.address()
    options = BootstrapOptions(
        node_id=scenario.front.path, ads_address=ads.server.address, bind_address=address, admin_port=0,
        ads_identity_dir=str(agent.layout.root), ads_server_name=SERVER,
    )  # fmt: skip
    document = json_format.MessageToDict(build(options), preserving_proto_field_name=True)
    envoy = envoy_runner.start(document, name="front", wait_ready=False)
    try:
        wait_live(envoy)
        yield scenario, publisher, ads, agent, envoy, address
    finally:
        agent.stop()
        ads.server.stop()


def client_serial(envoy: Envoy) -> str:
    """The serial number of the client certificate Envoy holds for the ADS cluster (admin /certs)."""
    import json

    _, body = envoy.admin_get("/certs")
    for entry in json.loads(body).get("certificates", []):
        for certificate in entry.get("cert_chain", []):
            if any("arn:aws:appmesh" in san.get("uri", "") for san in certificate.get("subject_alt_names", [])):
                return str(certificate["serial_number"])
    return ""


def test_envoy_gets_its_config_over_tls_with_a_node_certificate_and_carries_traffic(secure_front) -> None:
    scenario, publisher, ads, _, envoy, front = secure_front
    assert [answered_by(front)() for _ in range(5)] == ["back-v1"] * 5
    assert counter(envoy, "cluster.meshplane_ads.ssl.handshake") >= 1
    assert ads.server.metrics().streams_total >= 1 and ads.server.metrics().rejected_streams == 0
    scenario.route_to = "back-v2"
    publisher.publish(scenario.snapshot())
    eventually_answered_by(front, "back-v2")


def test_certificates_rotate_under_traffic_without_a_dropped_request(secure_front) -> None:
    scenario, publisher, ads, agent, envoy, front = secure_front
    first = client_serial(envoy)
    with Traffic(front, f"{SERVICE}:{APP_PORT}") as traffic:
        wait_until(lambda: client_serial(envoy) not in ("", first), 15, what="Envoy to load a renewed certificate")
        second = client_serial(envoy)
        wait_until(lambda: client_serial(envoy) not in ("", first, second), 15, what="a second renewal")
        time.sleep(6.5)  # every certificate Envoy held at the start has expired by now
        handshakes = counter(envoy, "cluster.meshplane_ads.ssl.handshake")
        ads.restart()  # every connection ends: Envoy reconnects with the certificate it holds now
        scenario.route_to = "back-v2"
        publisher.publish(scenario.snapshot())
        # Envoy reconnects with backoff (up to 5 s apart) and with a certificate renewed on a loaded machine
        eventually_answered_by(front, "back-v2", timeout=RECONNECT_TIMEOUT_S)
        time.sleep(0.3)
    assert counter(envoy, "cluster.meshplane_ads.ssl.handshake") > handshakes
    assert traffic.answers and None not in traffic.answers, f"{traffic.answers.count(None)} failed"
    assert set(traffic.answers) == {"back-v1", "back-v2"}
    assert agent.process is not None and agent.process.poll() is None


def test_when_renewal_fails_envoy_keeps_serving_its_last_config_and_recovers_when_the_exchange_returns(
    secure_front,
) -> None:
    scenario, publisher, ads, agent, _, front = secure_front
    with Traffic(front, f"{SERVICE}:{APP_PORT}") as traffic:
        ads.identity.stop()  # the exchange is gone: renewals fail, the last certificate stays
        time.sleep(7)  # and has expired
        assert agent.layout.has_credentials()
        ads.restart(exchange_port=free_port())  # the ADS is back, but not where the agent looks for the exchange
        scenario.route_to = "back-v2"
        publisher.publish(scenario.snapshot())
        time.sleep(3)
        assert ads.server.metrics().streams_total == 0, "an expired certificate opened a stream"
        assert answered_by(front)() == "back-v1", "Envoy kept its last config"
        ads.restart()  # the exchange is back where the agent looks
        eventually_answered_by(front, "back-v2", timeout=RECONNECT_TIMEOUT_S)
        time.sleep(0.3)
    assert traffic.answers and None not in traffic.answers, f"{traffic.answers.count(None)} failed"
    assert "renewing the certificate" in agent.log.read_text()
