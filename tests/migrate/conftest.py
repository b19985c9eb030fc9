"""Helpers of the migration tests: the three color-app sources, reading a mesh back, counting write calls."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from meshplane.local.harness import LocalStack
from meshplane.migrate.sources import account

DATA = Path(__file__).parent / "data"
CFN = DATA / "colorapp.yaml"
CRDS = DATA / "colorapp-crds.yaml"
EXPORT = DATA / "colorapp-export.json"
CRD_MESH = "colorapp-k8s"  # the Mesh's awsName in colorapp-crds.yaml
EXPORT_MESH = "colorapp-export"  # the meshName of colorapp-export.json
# what the color-app template imports from its infrastructure stack
IMPORTS = {"colorapp-infra-CloudMapNamespaceName": "colorapp.local"}
WRITES = ("Create", "Update", "Delete", "Tag", "Untag")


class Calls:
    """Every App Mesh operation a client sends, by name (botocore's before-call event)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call.app-mesh", self._record)
        return client

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    @property
    def writes(self) -> list[str]:
        return [n for n in self.names if n.startswith(WRITES)]


@pytest.fixture(scope="module", autouse=True)
def aws_credentials() -> Iterator[None]:
    """What a user of `meshplane local up` exports: any key pair (the local API checks no signature)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.delenv("AWS_PROFILE", raising=False)
        yield


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def unique() -> Callable[[str], str]:
    suffix = uuid.uuid4().hex[:6]
    return lambda base: f"{base}-{suffix}"


@pytest.fixture
def target(local_stack: LocalStack, calls: Calls) -> Any:
    """A boto3 appmesh client of the local stack's API, its calls recorded."""
    return calls.attach(local_stack.appmesh())


@pytest.fixture
def recorded_cli(monkeypatch: pytest.MonkeyPatch, calls: Calls) -> Iterator[Calls]:
    """`meshplane import` run in process, with its target client's calls recorded."""
    from meshplane.migrate import cli

    real = cli.target_client
    monkeypatch.setattr(cli, "target_client", lambda *a, **k: calls.attach(real(*a, **k)))
    yield calls


def mesh_contents(client: Any, mesh: str) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    """Every resource of `mesh` as the API describes it: spec, tags and owners by (kind, name, parent)."""
    contents: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for document in account.read(client, [mesh]):
        ((kind, data),) = [(k, v) for k, v in document.items() if k != "tags"]
        name = data.get(f"{kind}Name") if kind != "mesh" else "(mesh)"
        parent = data.get("virtualRouterName") if kind == "route" else data.get("virtualGatewayName") \
            if kind == "gatewayRoute" else None
        contents[(kind, name, parent)] = {
            "spec": data["spec"], "tags": document["tags"], "status": data["status"],
            "owners": (data["metadata"]["meshOwner"], data["metadata"]["resourceOwner"]),
            "arn": data["metadata"]["arn"].replace(f"mesh/{mesh}", "mesh/<mesh>"),
        }
    return contents


def import_into(client: Any, *sources: Path, **stack: Any) -> None:
    """Import `sources` through `client` with the library calls `meshplane import` makes."""
    from meshplane.migrate.apply import apply
    from meshplane.migrate.plan import make_plan
    from meshplane.migrate.sources import cloudformation, files
    from meshplane.migrate.validate import validate

    options = cloudformation.StackOptions(import_values=IMPORTS, **stack)
    report = apply(client, make_plan(client, validate(files.load([str(s) for s in sources], options))))
    assert report.ok, report.error
