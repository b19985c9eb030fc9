"""An operator's mistake is one line on stderr and exit status 1 (the setup) or 2 (the command line), never a
traceback: missing credentials, no bucket, a bucket or table that does not exist, an endpoint that does not answer,
a file that is not there, a malformed flag."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import boto3
import pytest

from .conftest import Result, bare_environment, meshplane

NODE = "mesh/shop/virtualNode/front"
MOTO_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def one_line(result: Result, status: int) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr_lines) == 1, result.stderr
    assert result.returncode == status, result.stderr
    return result.stderr_lines[0]


@pytest.mark.parametrize("once", [(), ("--once",)], ids=["running", "init-container"])
def test_agent_without_credentials(tmp_path: Path, once: tuple[str, ...]) -> None:
    result = meshplane("agent", "--node-id", NODE, "--dir", str(tmp_path / "xds"), "--bucket", "snapshots", *once,
                       env=bare_environment(tmp_path), cwd=tmp_path)  # fmt: skip
    line = one_line(result, 1)
    assert line.startswith("meshplane agent: ")
    assert "no AWS credentials found" in line


@pytest.mark.parametrize("once", [(), ("--once",)], ids=["running", "init-container"])
def test_identity_without_credentials_stops_at_once(tmp_path: Path, once: tuple[str, ...]) -> None:
    result = meshplane("identity", "--node-id", NODE, "--dir", str(tmp_path / "identity"),
                       "--ads-address", "127.0.0.1:1", *once, env=bare_environment(tmp_path), cwd=tmp_path)  # fmt: skip
    line = one_line(result, 1)
    assert line.startswith("meshplane identity: no AWS credentials found")


def test_ads_without_a_bucket(tmp_path: Path) -> None:
    line = one_line(meshplane("ads", "--port", "0", env=bare_environment(tmp_path), cwd=tmp_path), 2)
    assert line.startswith("meshplane ads: no snapshot bucket")
    assert "--bucket" in line and "MESHPLANE_BUCKET" in line


def test_ads_without_credentials(tmp_path: Path) -> None:
    line = one_line(meshplane("ads", "--port", "0", env=bare_environment(tmp_path, MESHPLANE_BUCKET="snapshots"),
                              cwd=tmp_path), 1)  # fmt: skip
    assert line == ("meshplane ads: cannot read bucket snapshots: no AWS credentials found (environment variables, "
                    "shared credentials and config files, SSO, container or instance role)")


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"snapshots-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_endpoint, **_keys()).create_bucket(Bucket=name)
    return name


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def on_moto(home: Path, endpoint: str) -> dict[str, str]:
    return bare_environment(home, AWS_ENDPOINT_URL=endpoint, **MOTO_KEYS)


def test_a_bucket_that_does_not_exist(tmp_path: Path, moto_endpoint: str) -> None:
    env = on_moto(tmp_path, moto_endpoint)
    for command in (["ads", "--port", "0"], ["agent", "--node-id", NODE, "--dir", str(tmp_path / "xds")]):
        line = one_line(meshplane(*command, "--bucket", "no-such-bucket", "--log-level", "warning", env=env,
                                  cwd=tmp_path), 1)  # fmt: skip
        assert line.startswith(f"meshplane {command[0]}: cannot read bucket no-such-bucket: ")
        assert "NoSuchBucket" in line


def test_a_table_that_does_not_exist(tmp_path: Path, moto_endpoint: str, bucket: str) -> None:
    line = one_line(meshplane("ads", "--port", "0", "--bucket", bucket, "--table", "no-such-table", "--log-level",
                              "warning", env=on_moto(tmp_path, moto_endpoint), cwd=tmp_path), 1)  # fmt: skip
    assert line.startswith(f"meshplane ads: cannot read table no-such-table and bucket {bucket}: ")
    assert "ResourceNotFoundException" in line


def test_an_endpoint_that_does_not_answer(tmp_path: Path) -> None:
    with socket.socket() as held:  # a loopback port nothing listens on while the command runs
        held.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{held.getsockname()[1]}"
        env = bare_environment(tmp_path, AWS_ENDPOINT_URL=endpoint, AWS_MAX_ATTEMPTS="1", **MOTO_KEYS)
        line = one_line(meshplane("agent", "--node-id", NODE, "--dir", str(tmp_path / "xds"), "--bucket", "b",
                                  "--log-level", "warning", env=env, cwd=tmp_path), 1)  # fmt: skip
    assert line.startswith("meshplane agent: cannot read bucket b: Could not connect to the endpoint URL")


def test_a_file_that_is_not_there(tmp_path: Path, moto_endpoint: str, bucket: str) -> None:
    missing = tmp_path / "no-such-dir" / "server.pem"
    line = one_line(meshplane("ads", "--port", "0", "--bucket", bucket, "--tls-cert", str(missing), "--tls-key",
                              str(missing), "--log-level", "warning", env=on_moto(tmp_path, moto_endpoint),
                              cwd=tmp_path), 1)  # fmt: skip
    assert line == f"meshplane ads: {missing}: No such file or directory"


@pytest.mark.parametrize(("argv", "complaint"), [
    ((), "meshplane: the following arguments are required: COMMAND"),
    (("ads", "--port", "eighteen"), "meshplane ads: argument --port: invalid int value: 'eighteen'"),
    (("ads", "--log-level", "loud"), "meshplane ads: argument --log-level: invalid choice: 'LOUD'"),
    (("agent", "--node-id", "front", "--dir", "x"), "meshplane agent: argument --node-id: "),
    (("ads", "--bucket", "b", "--queue-url", "q", "--topic-arn", "t"), "meshplane ads: give --queue-url or "
                                                                       "--topic-arn, not both"),
    (("identity", "--node-id", NODE, "--ads-address", "no-port"), "meshplane identity: expected host:port"),
])  # fmt: skip
def test_a_malformed_command_line(tmp_path: Path, argv: tuple[str, ...], complaint: str) -> None:
    line = one_line(meshplane(*argv, env=bare_environment(tmp_path), cwd=tmp_path), 2)
    assert line.startswith(complaint), line
