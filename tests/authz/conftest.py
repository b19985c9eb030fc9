"""The API with IAM authorization on, in front of the wrapper's moto (IAM, DynamoDB) and its SigV4 check.

The local HTTP server plays API Gateway: it authenticates each request against the
emulator's keys and hands the caller to the Api, whose Authorizer asks the emulator's
`iam:SimulatePrincipalPolicy`.  Callers are IAM users (or role sessions) made per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from meshplane.api.app import Api
from meshplane.api.authz import Authorizer
from meshplane.api.http import serve_in_thread
from meshplane.local.gateway_auth import EmulatorAuthenticator
from meshplane.store import ResourceStore, create_table

from authz.iamlab import ACCOUNT, ADMIN, REGION, IamLab, Keys, iam_lab

ALL_APPMESH = {"Effect": "Allow", "Action": "appmesh:*", "Resource": "*"}


@dataclass(frozen=True)
class AuthzStack:
    lab: IamLab
    api_endpoint: str
    store: ResourceStore
    admin: Keys

    def appmesh(self, keys: Keys | None, **config: Any) -> Any:
        """An App Mesh client signing as `keys` (None: unsigned)."""
        credentials = keys.boto if keys else ADMIN
        return boto3.client("appmesh", endpoint_url=self.api_endpoint,
                            config=Config(retries={"max_attempts": 1}, **config), **credentials)

    def arn(self, path: str) -> str:
        return f"arn:aws:appmesh:{REGION}:{ACCOUNT}:{path}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamLab]:
    with iam_lab(tmp_path_factory.mktemp("iam")) as opened:
        yield opened


def start_stack(lab: IamLab, authorizer: Callable[[ResourceStore], Authorizer | None]) -> tuple[AuthzStack, Any]:
    dynamodb = lab.client("dynamodb")
    table = f"meshplane-authz-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    store = ResourceStore(table, dynamodb, region=REGION, account=ACCOUNT)
    authenticate = EmulatorAuthenticator(lambda: lab.endpoint, REGION)
    server, _ = serve_in_thread(Api(store, authorizer=authorizer(store)), authenticate=authenticate)
    host, port = server.server_address[:2]
    admin = lab.user(ALL_APPMESH, {"Effect": "Allow", "Action": "acm:*", "Resource": "*"})
    return AuthzStack(lab, f"http://{host}:{port}", store, admin), server


@pytest.fixture(scope="module")
def stack(lab: IamLab) -> Iterator[AuthzStack]:
    started, server = start_stack(lab, lambda store: Authorizer(lab.client("iam"), store))
    yield started
    server.shutdown()
    server.server_close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    suffix = uuid.uuid4().hex[:8]
    return lambda base: f"{base}-{suffix}"


def node_spec(port: int = 8080, tls: Mapping[str, Any] | None = None) -> dict[str, Any]:
    listener: dict[str, Any] = {"portMapping": {"port": port, "protocol": "http"}}
    if tls is not None:
        listener["tls"] = tls
    return {"listeners": [listener]}
