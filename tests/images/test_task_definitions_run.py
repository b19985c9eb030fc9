"""The task definitions `meshplane bootstrap --emit task-definition` prints, run container by container on this host
the way ECS runs them from the sidecar image: the feeder first until its health check passes, then Envoy through the
image's entrypoint until its own health check passes, then real traffic through it.

- file mode: `meshplane agent` reads the published snapshot from S3 (moto), writes the files Envoy watches and
  records its Envoy's status in the table the task definition names;
- ADS mode: `meshplane identity` proves the task role to the stack's secure ADS (node identity, the emulator's IAM),
  installs a node certificate, and Envoy gets its config over TLS with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from authz.iamlab import IamLab, iam_lab
from delivery.harness import Aws, Publisher, ThreadedAds
from delivery.scenario import Scenario
from delivery.secure import SERVER, lab_aws, node_identity, role_for
from delivery.test_ads_traffic import answered_by
from meshplane.identity.store import publish_ca
from meshplane.localnet.waiting import wait_until
from meshplane.store import create_table
from meshplane.store.proxy_status import ProxyStatusStore
from support import Lab

from .native import NativeContainer, container, emit

pytestmark = pytest.mark.envoy
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/meshplane-envoy:0.1.0"


@pytest.fixture
def address(lab: Lab) -> Iterator[str]:
    """A sidecar address whose listener and admin ports (App Mesh's 9901) are free."""
    held = lab.pool.allocate((15000, 15001, 9901))
    yield held
    lab.pool.release(held)


def run_task(document: dict[str, object], feeder: str, workdir: Path,
             feeder_env: dict[str, str]) -> list[NativeContainer]:  # fmt: skip
    """Start the feeder, then Envoy once the feeder is HEALTHY (its dependsOn), and wait for Envoy to be healthy."""
    envoy_definition = container(document, "envoy")
    assert envoy_definition["dependsOn"] == [{"containerName": feeder, "condition": "HEALTHY"}]
    started = [NativeContainer(container(document, feeder), workdir, extra=feeder_env).start()]
    wait_until(started[0].healthy, 30, what=f"{feeder} to be healthy")
    started.append(NativeContainer(envoy_definition, workdir, extra={"ENVOY_LOG_LEVEL": "warning"}).start())
    wait_until(started[1].healthy, 30, what="Envoy to be LIVE")
    return started


def test_the_file_mode_task_runs_the_agent_then_envoy_and_carries_traffic(
    lab: Lab, aws: Aws, publisher: Publisher, address: str, tmp_path: Path
) -> None:
    scenario = Scenario.two_versions(lab)
    publisher.publish(scenario.snapshot(), notify=False)
    table = f"state-{tmp_path.name}"[:255]
    create_table(aws.client("dynamodb"), table)
    document = emit("--node-id", scenario.front.path, "--mode", "file", "--platform", "fargate",
                    "--file-dir", str(tmp_path / "xds"), "--bind-address", address, "--bucket", aws.bucket,
                    "--table", table, "--image", IMAGE,
                    "--task-role-arn", "arn:aws:iam::123456789012:role/front")  # fmt: skip
    running = run_task(document, "meshplane-agent", tmp_path, aws.env())
    try:
        assert [answered_by(address)() for _ in range(3)] == ["back-v1"] * 3
        statuses = ProxyStatusStore(table, aws.client("dynamodb"))
        applied = lambda: [(e.delivery, bool(e.applied)) for e in statuses.envoys([scenario.front])]  # noqa: E731
        wait_until(lambda: applied() == [("file", True)], 15, what="the agent's status in the task's table")
    finally:
        for process in reversed(running):
            process.stop()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamLab]:
    with iam_lab(tmp_path_factory.mktemp("emulator")) as opened:
        yield opened


def test_the_ads_task_proves_its_role_for_a_node_certificate_then_envoy_gets_its_config_over_tls(
    emulator: IamLab, lab: Lab, address: str, tmp_path: Path
) -> None:
    aws = lab_aws(emulator)
    identity = node_identity(emulator)
    publish_ca(emulator.client("s3"), aws.bucket, identity.ca)
    ads = ThreadedAds(aws, identity=identity)
    try:
        scenario = Scenario.two_versions(lab)
        Publisher(aws).publish(scenario.snapshot())
        role = role_for(emulator, scenario.front.path)
        document = emit("--node-id", scenario.front.path, "--platform", "fargate", "--ads-address", ads.address,
                        "--identity-address", f"127.0.0.1:{identity.port}", "--ads-server-name", SERVER,
                        "--ads-identity-dir", str(tmp_path / "identity"), "--ads-delta", "--bind-address", address,
                        "--bucket", aws.bucket, "--image", IMAGE, "--task-role-arn", role)  # fmt: skip
        session = emulator.session(role.rpartition("/")[2])  # what ECS hands the task for its role
        task_credentials = {**aws.env(), "AWS_ACCESS_KEY_ID": session.access_key, "AWS_SECRET_ACCESS_KEY":
                            session.secret_key, "AWS_SESSION_TOKEN": session.session_token or ""}  # fmt: skip
        running = run_task(document, "meshplane-identity", tmp_path, task_credentials)
        try:
            assert [answered_by(address)() for _ in range(3)] == ["back-v1"] * 3
            assert ads.metrics().streams_total >= 1 and ads.metrics().rejected_streams == 0
        finally:
            for process in reversed(running):
                process.stop()
    finally:
        ads.stop()
