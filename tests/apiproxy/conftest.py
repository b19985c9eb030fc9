"""One emulator (IAM, DynamoDB), one execute-api target and one proxy per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from authz.iamlab import IamLab, Keys, iam_lab

from apiproxy.harness import Upstream, api_proxy, upstream

ALL_APPMESH = {"Effect": "Allow", "Action": ["appmesh:*", "meshplane:*"], "Resource": "*"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamLab]:
    with iam_lab(tmp_path_factory.mktemp("iam")) as opened:
        yield opened


@pytest.fixture(scope="module")
def target(lab: IamLab) -> Iterator[Upstream]:
    with upstream(lab) as running:
        yield running


@pytest.fixture(scope="module")
def operator(lab: IamLab) -> Keys:
    """The person running the proxy: may do anything in App Mesh and meshplane's own APIs."""
    return lab.user(ALL_APPMESH)


@pytest.fixture(scope="module")
def proxy(target: Upstream, operator: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with api_proxy(target.url, operator, tmp_path_factory.mktemp("proxy")) as url:
        yield url


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME: no ~/.aws, so no plugin and no profile."""
    return tmp_path / "home"
