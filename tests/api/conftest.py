"""A real moto server (DynamoDB) per session, and per test module a fresh table with the local API in front.

Each xdist worker gets its own servers on free ports, and every test uses its
own mesh names, so tests never see each other's resources.  A table per module
keeps moto fast: its transactions copy the whole table.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from meshplane.api.app import Api
from meshplane.api.http import serve_in_thread
from meshplane.config import Settings
from meshplane.store import ResourceStore, create_table
from meshplane.store.limits import Limits
from support.moto import moto_server

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}
# generous for meshplane, so one session can hold every test's meshes; others stay App Mesh's defaults
TEST_LIMITS = Limits(meshes=10_000)


@dataclass(frozen=True)
class Stack:
    aws_endpoint: str
    api_endpoint: str
    table: str
    store: ResourceStore

    def appmesh(self, **config: Any) -> Any:
        return boto3.client(
            "appmesh", endpoint_url=self.api_endpoint, config=Config(retries={"max_attempts": 1}, **config),
            **CREDENTIALS,
        )


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    yield from moto_server()


@pytest.fixture(scope="module")
def stack(moto_endpoint: str) -> Iterator[Stack]:
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint, **CREDENTIALS)
    table = f"meshplane-api-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    settings = Settings(table=table, region=REGION)
    api = Api.build(settings, dynamodb, TEST_LIMITS)
    server, thread = serve_in_thread(api)
    host, port = server.server_address[:2]
    yield Stack(moto_endpoint, f"http://{host}:{port}", table, api.operations.store)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def appmesh(stack: Stack) -> Any:
    return stack.appmesh()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique resource names, so tests sharing one server never collide."""
    suffix = uuid.uuid4().hex[:8]
    return lambda base: f"{base}-{suffix}"


@pytest.fixture
def mesh(appmesh: Any, unique: Callable[[str], str]) -> str:
    name = unique("mesh")
    appmesh.create_mesh(meshName=name)
    return name
