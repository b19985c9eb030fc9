"""`meshplane import --from-account`: a live read of an App Mesh API, saved, and applied to another.

The account read is an App Mesh API served by a second meshplane (its own table, in-thread):
moto's `appmesh` backend has no virtual services, so it cannot stand in for a whole mesh.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from api.conftest import Stack, moto_endpoint, stack  # noqa: F401 - the second API and its moto server
from meshplane.cli import main
from meshplane.local.harness import LocalStack

from .conftest import CFN, Calls, import_into, mesh_contents

pytestmark = pytest.mark.emulator


def test_a_live_read_is_saved_and_converges_to_the_same_mesh(stack: Stack, local_stack: LocalStack,  # noqa: F811
                                                            recorded_cli: Calls, unique: Callable[[str], str],
                                                            tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    mesh = unique("colorapp-acct")
    source = stack.appmesh()
    import_into(source, CFN, parameters={"MeshName": mesh})
    import_into(source, CFN, parameters={"MeshName": unique("other-mesh")})  # not chosen by --mesh
    saved = tmp_path / "export.json"
    code = main(["import", "--from-account", "--source-endpoint-url", stack.api_endpoint, "--source-region",
                 "us-east-1", "--mesh", mesh, "--save", str(saved), "--endpoint-url", local_stack.api_url])
    assert code == 0, capsys.readouterr().err
    assert "Plan: 13 to create, 0 to update, 0 unchanged." in capsys.readouterr().out
    assert mesh_contents(local_stack.appmesh(), mesh) == mesh_contents(source, mesh)

    documents = json.loads(saved.read_text())
    assert len(documents) == 13 and {d["mesh"]["meshName"] for d in documents if "mesh" in d} == {mesh}
    assert all(isinstance(d.get("tags"), list) for d in documents)
    recorded_cli.names.clear()
    assert main(["import", str(saved), "--endpoint-url", local_stack.api_url]) == 0  # the saved export: a no-op
    assert "Plan: 0 to create, 0 to update, 13 unchanged." in capsys.readouterr().out
    assert recorded_cli.writes == []


def test_an_unknown_mesh_of_the_account_is_refused(stack: Stack, local_stack: LocalStack,  # noqa: F811
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", "--from-account", "--source-endpoint-url", stack.api_endpoint, "--source-region",
                 "us-east-1", "--mesh", "no-such-mesh", "--endpoint-url", local_stack.api_url])
    assert code == 2
    assert "--mesh no-such-mesh: no such mesh in the account" in capsys.readouterr().err
