"""`meshplane ads` flags: a node CA turns node identity on (required by default), and half-given setups are refused."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from meshplane.cli import build_parser
from meshplane.identity.adsflags import node_identity
from meshplane.identity.defaults import CA_OBJECT_KEY

from .conftest import ACCOUNT, REGION, Aws


@pytest.fixture
def session(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


def ads_args(*flags: str) -> Any:
    return build_parser().parse_args(["ads", *flags])


def test_a_node_ca_turns_node_identity_on_and_publishes_the_certificate(aws: Aws, session: Any, tmp_path: Path) -> None:
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    aws.client("s3").create_bucket(Bucket=bucket)
    args = ads_args("--ca-cert", str(tmp_path / "ca.pem"), "--ca-key", str(tmp_path / "ca-key.pem"),
                    "--server-name", "ads.internal", "--node-cert-minutes", "15")  # fmt: skip
    identity = node_identity(args, REGION, bucket, session)
    assert identity.require_node_identity
    assert (identity.account.partition, identity.account.account) == ("aws", ACCOUNT)
    assert identity.exchange.lifetime.total_seconds() == 900
    assert identity.exchange.verifier.server_id == "ads.internal"
    published = aws.client("s3").get_object(Bucket=bucket, Key=CA_OBJECT_KEY)["Body"].read()
    assert published == (tmp_path / "ca.pem").read_bytes() == identity.ca.certificate_pem


def test_without_a_node_ca_there_is_no_node_identity(session: Any) -> None:
    assert node_identity(ads_args(), REGION, None, session) is None


@pytest.mark.parametrize(("flags", "complaint"), [
    (("--ca-cert", "/x/ca.pem"), "--ca-cert and --ca-key together"),
    (("--ca-cert", "/x/ca.pem", "--ca-key", "/x/k.pem"), "needs --server-name"),
    (("--require-node-identity",), "needs a node CA"),
])  # fmt: skip
def test_half_given_setups_are_refused(session: Any, flags: tuple[str, ...], complaint: str) -> None:
    with pytest.raises(SystemExit, match=complaint):
        node_identity(ads_args(*flags), REGION, None, session)
