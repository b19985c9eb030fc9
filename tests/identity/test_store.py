"""The node CA: made once and kept, in files or in one Secrets Manager secret that racing replicas agree on."""

from __future__ import annotations

import json
import logging
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from meshplane.identity.ca import NodeCA
from meshplane.identity.store import CA_OBJECT_KEY, ca_from_files, ca_from_secret, publish_ca
from meshplane.wirelogs import WIRE_LOGGERS

from .conftest import Aws


def test_files_are_made_on_first_use_with_a_private_key_file_and_reused_after(tmp_path: Path) -> None:
    cert, key = tmp_path / "ca" / "ca.pem", tmp_path / "ca" / "ca-key.pem"
    made = ca_from_files(cert, key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert ca_from_files(cert, key).certificate == made.certificate


def _secret(aws: Aws, **value: Any) -> str:
    return aws.client("secretsmanager").create_secret(Name=f"ca-{uuid.uuid4().hex[:8]}", **value)["ARN"]


def test_an_empty_secret_gets_a_ca_and_keeps_it(aws: Aws) -> None:
    secrets = aws.client("secretsmanager")
    arn = _secret(aws)
    first = ca_from_secret(secrets, arn)
    assert ca_from_secret(secrets, arn).certificate == first.certificate
    stored = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
    assert stored["certificate"] == first.certificate_pem.decode()


def test_a_placeholder_value_is_replaced(aws: Aws) -> None:
    secrets = aws.client("secretsmanager")
    arn = _secret(aws, SecretString="generated-by-cloudformation")
    ca = ca_from_secret(secrets, arn)
    assert json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])["privateKey"] == ca.key_pem.decode()


def test_replicas_racing_on_an_empty_secret_end_up_with_the_same_ca(aws: Aws) -> None:
    """Replica B reads the secret empty, then replica A stores its CA, then B tries to store its own."""
    arn = _secret(aws)
    winner: list[Any] = []
    slow = aws.client("secretsmanager")

    def a_runs_after_b_read(**_: Any) -> None:
        if not winner:
            winner.append(ca_from_secret(aws.client("secretsmanager"), arn))

    slow.meta.events.register("after-call.secretsmanager.GetSecretValue", a_runs_after_b_read)
    slow.meta.events.register("after-call-error.secretsmanager.GetSecretValue", a_runs_after_b_read)
    loser = ca_from_secret(slow, arn)
    assert loser.certificate == winner[0].certificate
    assert loser.key_pem == winner[0].key_pem


def test_the_ca_certificate_alone_is_published_for_proxies(aws: Aws) -> None:
    s3, bucket = aws.client("s3"), f"b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    ca = NodeCA.generate()
    publish_ca(s3, bucket, ca)
    body = s3.get_object(Bucket=bucket, Key=CA_OBJECT_KEY)["Body"].read()
    assert body == ca.certificate_pem
    assert b"PRIVATE KEY" not in body


def test_the_ca_key_read_from_the_secret_is_never_logged_even_at_debug(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    reset_wire_loggers()  # another test may have raised them already
    caplog.set_level("DEBUG")
    secrets = aws.client("secretsmanager")
    arn = _secret(aws)
    ca_from_secret(secrets, arn)
    key_line = ca_from_secret(secrets, arn).key_pem.decode().splitlines()[1]
    assert "botocore" in caplog.text, "botocore logged nothing: the check would prove nothing"
    assert key_line not in caplog.text and "PRIVATE KEY" not in caplog.text


def reset_wire_loggers() -> None:
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
