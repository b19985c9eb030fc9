"""The API's and the rollout controller's botocore reads find each service model in its own folder, without listing
every service first: the API's IAM and S3 clients and the rollout's DynamoDB and CloudWatch clients come from a session
of the pipeline's (`wiring.aws_session`), and the API's route table reads the App Mesh model the same way."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.loaders
import pytest
from meshplane.api import app, routes
from meshplane.config import Settings
from meshplane.pipeline import rollout_runtime
from meshplane.store import s3objects
from meshplane.store.resources import ResourceStore

from . import test_coldstart_loader

SETTINGS = Settings(table="t", bucket="snapshots", region="eu-west-1", api_authz="iam")
full_listings = test_coldstart_loader.full_listings  # the fixture: the types botocore listed every service for


@pytest.fixture(autouse=True)
def no_default_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's default session made anew, so no model an earlier test loaded through it is cached."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def test_the_api_authorizers_iam_client_lists_no_service_folder(full_listings: list[str]) -> None:
    authorizer = app._authorizer(SETTINGS, ResourceStore("t", object()))
    assert authorizer is not None
    iam = authorizer.iam
    assert full_listings == []
    plain = boto3.client("iam", region_name="eu-west-1")  # what the API used before: boto3's default session
    assert iam.meta.service_model.service_name == "iam" and iam.meta.endpoint_url == plain.meta.endpoint_url


def test_the_api_snapshot_buckets_s3_client_lists_no_service_folder(full_listings: list[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[Any, str]] = []
    monkeypatch.setattr(s3objects, "snapshot_bucket", lambda s3, bucket: opened.append((s3, bucket)))
    app._snapshots(SETTINGS)()
    [(s3, bucket)] = opened
    assert full_listings == []
    plain = boto3.client("s3", region_name="eu-west-1")
    assert bucket == "snapshots" and s3.meta.service_model.service_name == "s3"
    assert s3.meta.region_name == "eu-west-1" and s3.meta.endpoint_url == plain.meta.endpoint_url


def test_the_api_route_tables_app_mesh_model_is_botocores_read_without_listing_service_folders(
        full_listings: list[str]) -> None:
    model = routes._load_model()
    assert full_listings == []
    assert model == botocore.loaders.Loader().load_service_model(routes.SERVICE, "service-2", routes.API_VERSION)


def test_the_rollout_clients_share_one_session_that_lists_no_service_folder(full_listings: list[str],
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    rollout_runtime._built.cache_clear()
    try:
        controller, _ = rollout_runtime._built(None)
    finally:
        rollout_runtime._built.cache_clear()
    dynamodb, cloudwatch = controller.resources.client, controller.reader.cloudwatch
    assert full_listings == []
    assert dynamodb._loader is cloudwatch._loader  # one session's loader: what both read is read once
    assert dynamodb.meta.region_name == cloudwatch.meta.region_name == "eu-west-1"
    assert dynamodb.meta.service_model.service_name == "dynamodb"
    assert cloudwatch.meta.service_model.service_name == "cloudwatch"
