"""The Lambda entry points' boto3 sessions find each service model in its own folder instead of listing every
service first: the pipeline's, the API function's and the custom resource provider's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from meshplane.api.runtime import lambda_api
from meshplane.config import Settings
from meshplane.migrate.handlers import appmesh_client
from meshplane.pipeline.wiring import SessionClients, one_service_loader


@pytest.fixture
def full_listings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The types botocore's loader listed every service for, in this test."""
    listed: list[str] = []
    original = botocore.loaders.Loader.list_available_services

    def listing(self: Any, type_name: str) -> Any:
        listed.append(type_name)
        return original(self, type_name)

    monkeypatch.setattr(botocore.loaders.Loader, "list_available_services", listing)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    yield listed


def test_clients_and_paginators_of_the_pipeline_list_no_service_folder(full_listings: list[str]) -> None:
    clients = SessionClients(Settings(table="t", bucket="b", bus="e", region="us-east-1"), {})
    dynamodb, ecs = clients.dynamodb, clients.ecs
    dynamodb.get_paginator("query")
    assert full_listings == []
    plain = botocore.session.get_session().create_client("ecs", region_name="us-east-1")
    assert ecs.meta.service_model.operation_names == plain.meta.service_model.operation_names
    assert ecs.meta.endpoint_url == plain.meta.endpoint_url


def test_a_service_or_version_botocore_lacks_fails_as_botocore_fails(full_listings: list[str]) -> None:
    loader = one_service_loader(None)
    with pytest.raises(UnknownServiceError) as unknown:
        loader.load_service_model("no-such-service", "service-2")
    assert "dynamodb" in str(unknown.value)  # botocore's message lists the known services
    with pytest.raises(DataNotFoundError):
        loader.load_service_model("dynamodb", "service-2", "1999-01-01")
    assert loader.list_available_services("service-2") == botocore.loaders.Loader().list_available_services("service-2")


def test_the_loader_searches_where_botocore_would(tmp_path: Any) -> None:
    data_path = os.pathsep.join([str(tmp_path / "a"), "~/models"])
    assert one_service_loader(data_path).search_paths == botocore.loaders.create_loader(data_path).search_paths
    assert one_service_loader(None).search_paths == botocore.loaders.create_loader(None).search_paths


@pytest.mark.parametrize(("built", "client"), [
    (lambda_api, lambda api: api.operations.store.client),  # the API function's
    (appmesh_client, lambda appmesh: appmesh),  # the custom resource provider's in-process App Mesh client
], ids=["api", "cfn_provider"])
def test_the_api_and_the_providers_clients_list_no_service_folder(full_listings: list[str], built: Any,
                                                                   client: Any) -> None:
    built.cache_clear()
    try:
        made = client(built(None))
    finally:
        built.cache_clear()
    assert made.meta.region_name == "us-east-1"
    assert full_listings == []
