"""`meshplane local up --secure`: the local stack's ADS is the secure one, on the same code path as on AWS.

A sidecar gets its node certificate from the local exchange for a role the emulator's IAM
policies let be the node, its Envoy gets config over TLS and carries traffic; a role without
that permission gets App Mesh's ForbiddenException, and a plaintext client gets nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from delivery.harness import wait_live
from delivery.rawclient import RawStream, sotw
from meshplane.identity.agent import make_csr
from meshplane.identity.client import ExchangeRefused, request_credentials
from meshplane.identity.layout import IdentityLayout
from meshplane.identity.proof import key_digest, sign_proof
from meshplane.local.harness import LocalStack, start_local_up, stop_local_up
from support import EnvoyRunner, Lab, http_request, wait_until
from support.fixtures import envoy_runner, lab
from support.ports import free_port

__all__ = ["envoy_runner", "lab"]
pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("local-secure")]  # one secure local up for the module
MESHPLANE = str(Path(sys.executable).with_name("meshplane"))
STREAM = "appmesh:StreamAggregatedResources"
REGION, ACCOUNT = "us-east-1", "123456789012"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    started = start_local_up(tmp_path_factory.mktemp("secure-up"), "--secure", "--identity-port", str(free_port()),
                             "--schedule-interval", "60")  # fmt: skip
    try:
        yield started
    finally:
        stop_local_up(started)


def session(stack: LocalStack, *node_arns: str) -> Any:
    """Credentials of a fresh role session, the role allowed StreamAggregatedResources on `node_arns`."""
    iam, name = stack.client("iam"), f"proxy-{uuid.uuid4().hex[:8]}"
    trust = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}))
    if node_arns:
        allow = {"Effect": "Allow", "Action": STREAM, "Resource": list(node_arns)}
        iam.put_role_policy(RoleName=name, PolicyName="proxy",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}))  # fmt: skip
    role = f"arn:aws:iam::{ACCOUNT}:role/{name}"
    return stack.client("sts").assume_role(RoleArn=role, RoleSessionName="task")["Credentials"]


def mesh_with_front(stack: LocalStack) -> tuple[str, str]:
    """A mesh whose virtual node `front` listens on 8080; returns (node path, node ARN)."""
    mesh = f"secure-{uuid.uuid4().hex[:8]}"
    appmesh = stack.appmesh()
    appmesh.create_mesh(meshName=mesh)
    spec = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="front", spec=spec)
    path = f"mesh/{mesh}/virtualNode/front"
    return path, f"arn:aws:appmesh:{REGION}:{ACCOUNT}:{path}"


def test_a_sidecar_gets_a_node_certificate_and_its_config_over_tls_and_carries_traffic(
    stack: LocalStack, lab: Lab, envoy_runner: EnvoyRunner, tmp_path: Path
) -> None:
    secure = stack.state["adsIdentity"]
    path, arn = mesh_with_front(stack)
    keys = session(stack, arn)
    directory = tmp_path / "identity"
    env = {**stack.env, "MESHPLANE_BUCKET": stack.bucket, "AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
           "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"], "AWS_SESSION_TOKEN": keys["SessionToken"]}  # fmt: skip
    agent = subprocess.Popen(
        [MESHPLANE, "identity", "--node-id", path, "--exchange-address", f"127.0.0.1:{secure['identityPort']}",
         "--server-name", secure["serverName"], "--dir", str(directory), "--retry-max-seconds", "1"],
        env=env, stdout=(tmp_path / "identity.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        layout = IdentityLayout(directory)
        wait_until(layout.has_credentials, 60, what=f"a certificate: {(tmp_path / 'identity.log').read_text()[-2000:]}")
        assert layout.trusted_ca.read_bytes() == Path(secure["caFile"]).read_bytes(), "the CA published to S3"
        address = lab.address()
        lab.http_app("front-app", address, 8080)
        rendered = subprocess.run(
            [MESHPLANE, "bootstrap", "--node-id", path, "--ads-address", f"127.0.0.1:{stack.ads_port}",
             "--ads-identity-dir", str(directory), "--ads-server-name", secure["serverName"],
             "--bind-address", address, "--admin-port", "0"],
            capture_output=True, text=True, check=True, env=stack.env,
        )  # fmt: skip
        envoy = envoy_runner.start(json.loads(rendered.stdout), name="front", wait_ready=False)
        wait_live(envoy, timeout=60)
        assert http_request((address, 15000), "front.local:8080").upstream == "front-app"
    finally:
        agent.terminate()
        agent.wait(10)


def test_a_role_iam_does_not_let_be_the_node_gets_forbidden_and_plaintext_gets_nothing(stack: LocalStack) -> None:
    from botocore.credentials import ReadOnlyCredentials

    secure = stack.state["adsIdentity"]
    path, arn = mesh_with_front(stack)
    keys = session(stack, arn.replace("front", "other"))
    credentials = ReadOnlyCredentials(keys["AccessKeyId"], keys["SecretAccessKey"], keys["SessionToken"])
    key = ec.generate_private_key(ec.SECP256R1())
    proof = sign_proof(credentials, stack.endpoint_url, REGION, secure["serverName"], key_digest(key.public_key()))
    with pytest.raises(ExchangeRefused) as refused:
        request_credentials(("127.0.0.1", secure["identityPort"]), secure["serverName"],
                            Path(secure["caFile"]).read_bytes(), path, make_csr(key, path), proof)  # fmt: skip
    assert refused.value.status == 403 and f"{STREAM} on resource: {arn}" in refused.value.message
    plain = RawStream(f"127.0.0.1:{stack.ads_port}")
    try:
        plain.send(sotw("type.googleapis.com/envoy.config.cluster.v3.Cluster", path))
        assert plain.status(timeout=10) == grpc.StatusCode.UNAVAILABLE
    finally:
        plain.close()
