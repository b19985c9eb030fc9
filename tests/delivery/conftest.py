"""Delivery fixtures: a moto server per worker, fresh AWS resources and an ADS server per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.fixtures import envoy_runner, lab
from support.moto import moto_server

from .harness import Aws, CountingAds, Publisher, ThreadedAds

__all__ = ["ads", "aws", "counting_ads", "envoy_runner", "lab", "moto_endpoint", "publisher"]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    yield from moto_server()


@pytest.fixture
def aws(moto_endpoint: str) -> Aws:
    return Aws(moto_endpoint).create()


@pytest.fixture
def publisher(aws: Aws) -> Publisher:
    return Publisher(aws)


@pytest.fixture
def ads(aws: Aws) -> Iterator[ThreadedAds]:
    server = ThreadedAds(aws)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def counting_ads(aws: Aws) -> Iterator[Callable[..., CountingAds]]:
    started: list[CountingAds] = []

    def start(**options: Any) -> CountingAds:
        server = CountingAds(aws, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
