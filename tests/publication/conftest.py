"""In-process moto with the snapshot bucket and the state table, for the publication tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meshplane.store.schema import create_table
from moto import mock_aws

BUCKET, TABLE = "snapshots", "state"


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    """(s3, dynamodb) clients; the bucket `BUCKET` and the table `TABLE` exist."""
    with mock_aws():
        s3, dynamodb = boto3.client("s3", region_name="us-east-1"), boto3.client("dynamodb", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        create_table(dynamodb, TABLE)
        yield s3, dynamodb
