"""What layers/prune_layer.py leaves out, no handler needs: each one runs its sample event with all of it refused.

The built layer is aarch64 and cannot be imported here, so tests/support/pruned_layer_probe.py
runs each `functions/<name>/app.py` from the source tree, first invocation against
in-process moto, in a forked child of one probe process whose import system refuses every
module `prune_layer.BLOCKED` names (our products other than core and aws, and the
third-party code trimmed) and every proto module the prune deletes.  The parent has
loaded moto and nothing the reports look at, so each child stands where a fresh
interpreter would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "tests" / "support" / "pruned_layer_probe.py"
FUNCTIONS = sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py"))
EVERY_HANDLER = (
    "aws_lambda_powertools.logging.logger",
    "aws_lambda_powertools.metrics.metrics",
    "aws_lambda_powertools.tracing.tracer",
    "aws_xray_sdk.ext.botocore.patch",
    "wrapt",
    "pydantic.main",
    "pydantic_core._pydantic_core",
)
# What each handler must really have loaded, so that a probe that skipped the work cannot pass.
RELIED_ON = {  # only recompute translates (the probe gives it its event's mesh), so only it loads the protos
    "api": ("meshplane.api.app", "aws_lambda_powertools.logging.correlation_paths"),
    "ecs_events": (
        "aws_lambda_powertools.utilities.batch",
        "aws_lambda_powertools.utilities.idempotency",
        "meshplane.pipeline.ecs",
    ),
    "cloudmap_events": (  # no idempotency: an event only names a service, which is read again
        "aws_lambda_powertools.utilities.batch",
        "meshplane.pipeline.cloudmap_events",
    ),
    "recompute": (
        "meshplane.pipeline.recompute",
        "meshplane.translate",
        "google.protobuf.descriptor_pb2",
        "envoy.config.cluster.v3.cluster_pb2",
    ),
    "recompute_shard": (  # the sample shard's mesh is not in moto: it loads, finds no mesh and publishes nothing
        "aws_lambda_powertools.utilities.batch",
        "aws_lambda_powertools.utilities.idempotency",
        "meshplane.pipeline.shards",
    ),
    "reconcile": ("meshplane.pipeline.ecs_reconcile", "meshplane.store.endpoints"),
    "rollout": ("meshplane.pipeline.rollouts", "meshplane.pipeline.rollout_metrics"),  # no rollout runs: one look
    "cfn_macro": ("meshplane.migrate.cfn_macro",),
    "cfn_provider": ("meshplane.migrate.cfn_provider", "meshplane.migrate.inprocess", "meshplane.api.app",
                     "meshplane.migrate.cfn_response"),
}


NEEDED = "aws_lambda_powertools.utilities.batch"
REFUSING_A_NEEDED_MODULE = f"ecs_events:{NEEDED}"  # a probe run: the function, then more modules to refuse


@pytest.fixture(scope="module")
def probe_runs() -> dict[str, Any]:
    """Every run's report from one probe process, which loads moto once and forks a child per run."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LOG_LEVEL": "WARNING"}
    with subprocess.Popen(
        [sys.executable, str(PROBE), *FUNCTIONS, REFUSING_A_NEEDED_MODULE],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its forked children too, which hold the pipes
            raise
    lines = out.strip().splitlines()
    assert lines and lines[-1].startswith("{"), f"exit {proc.returncode}: {err[-3000:]}"
    return {**json.loads(lines[-1]), "stderr": err}


def probe(probe_runs: dict[str, Any], run: str) -> dict[str, Any]:
    """One run's report, if its child did not crash."""
    status = probe_runs["exit_statuses"][run]
    assert status == 0, f"the child of {run} ended with {status}: {probe_runs['stderr'][-3000:]}"
    report: dict[str, Any] = probe_runs["reports"][run]
    return report


def test_every_function_is_probed() -> None:
    assert sorted(RELIED_ON) == FUNCTIONS


@pytest.mark.xdist_group("layer-pruning-probe")  # one worker runs the probe process for all of them
@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_handler_serves_its_sample_event_with_the_pruned_modules_refused(
    function: str, prune_layer: ModuleType, probe_runs: dict[str, Any]
) -> None:
    run = probe(probe_runs, function)
    assert run["error"] is None, run["error"]
    result = run["result"]
    assert not result.get("batchItemFailures") and not result.get("failed")
    assert int(result.get("statusCode", 200)) < 400, result
    # not even attempted and caught, but for the modules whose importer carries on without them
    assert [m for m in run["refused"] if not prune_layer.is_blocked(m, prune_layer.OPTIONAL_MODULES)] == []
    assert run["opened_pruned_files"] == []
    missing = [m for m in (*EVERY_HANDLER, *RELIED_ON[function]) if m not in run["loaded"]]
    assert missing == []


@pytest.mark.xdist_group("layer-pruning-probe")
def test_the_probe_fails_when_a_needed_module_is_refused(probe_runs: dict[str, Any]) -> None:
    """The blocker really bites: refusing one module the SQS handlers need breaks the invocation."""
    run = probe(probe_runs, REFUSING_A_NEEDED_MODULE)
    assert run["error"] and "pruned from the Lambda layer" in run["error"]
    assert NEEDED in run["refused"]


def test_every_pruned_module_exists_so_the_list_is_not_stale(prune_layer: ModuleType) -> None:
    """A misspelt or renamed entry would prune nothing while the probe still refused it."""
    site = Path(sysconfig.get_paths()["purelib"])
    names = (*prune_layer.PRUNED_MODULES, *prune_layer.OPTIONAL_MODULES)
    assert [m for m in names if not prune_layer.module_paths(site, m)] == []
    assert [i for i, m, _ in prune_layer.UNREACHED_IMPORTS if not prune_layer.module_paths(site, i)] == []


def test_the_layer_holds_exactly_the_core_and_aws_products_of_the_import_contracts(prune_layer: ModuleType) -> None:
    """The include-list is the `core` and `aws` contracts' source modules; every other product is left out."""
    contracts = {c["id"]: c for c in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
                 ["contracts"]}
    kept = (*contracts["core"]["source_modules"], *contracts["aws"]["source_modules"])
    assert prune_layer.layer_modules() == kept
    assert [m for m in kept if prune_layer.is_blocked(m, prune_layer.OURS_LEFT_OUT)] == []
    for other in ("ads", "tools"):
        assert all(prune_layer.is_blocked(m, prune_layer.OURS_LEFT_OUT) for m in contracts[other]["source_modules"])
    for developer_tool in ("meshplane.local", "meshplane.localnet", "meshplane.demo"):
        assert developer_tool in prune_layer.OURS_LEFT_OUT
    ours = REPO / "layers" / "meshplane"
    kept_files = {f.relative_to(ours.parent).as_posix() for f in prune_layer.our_files(ours)}
    assert {"meshplane/__init__.py", "meshplane/migrate/__init__.py", "meshplane/migrate/cfn_provider.py"} <= kept_files
    assert not any(f.startswith(("meshplane/delivery/", "meshplane/migrate/sources/")) for f in kept_files)
    assert "meshplane/migrate/cli.py" not in kept_files


def test_a_module_no_contract_names_stays_out_of_the_layer(prune_layer: ModuleType, tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    for folder in ("core", "core/deep", "mixed", "mixed/tool", "other"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    for module in ("core/a.py", "mixed/kept.py", "mixed/new.py", "mixed/tool/cli.py", "other/x.py", "loose.py"):
        (package / module).write_text("")
    left = prune_layer.left_out(package, ["pkg.core", "pkg.mixed.kept"])
    assert left == ["pkg.loose", "pkg.mixed.new", "pkg.mixed.tool", "pkg.other"]


def test_the_build_fails_if_a_kept_module_imports_a_pruned_one(prune_layer: ModuleType, tmp_path: Path) -> None:
    package = tmp_path / "kept"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "lazy.py").write_text("def load():\n    from pydantic import mypy\n    return mypy\n")
    with pytest.raises(SystemExit, match=r"kept\.lazy imports pydantic\.mypy"):
        prune_layer.check_nothing_kept_imports_pruned(tmp_path)
    (package / "lazy.py").write_text("import json\n")
    prune_layer.check_nothing_kept_imports_pruned(tmp_path)
    internal = tmp_path / "pydantic" / "_internal"
    internal.mkdir(parents=True)
    (internal / "kept.py").write_text("def load():\n    from .. import mypy\n")  # relative imports count too
    with pytest.raises(SystemExit, match=r"pydantic\._internal\.kept imports pydantic\.mypy"):
        prune_layer.check_nothing_kept_imports_pruned(tmp_path)


def test_only_the_documented_importer_may_name_a_pruned_module(prune_layer: ModuleType, tmp_path: Path) -> None:
    """`UNREACHED_IMPORTS` excuses one importer of one pruned module, not the module for everyone."""
    importer, pruned, _ = prune_layer.UNREACHED_IMPORTS[0]
    assert prune_layer.is_blocked(pruned, prune_layer.NOT_IMPORTED)
    documented = tmp_path.joinpath(*importer.split("."))
    documented.mkdir(parents=True)
    (documented / "__init__.py").write_text(f"def load():\n    import {pruned}\n")
    prune_layer.check_nothing_kept_imports_pruned(tmp_path)
    (documented / "other.py").write_text(f"def load():\n    import {pruned}\n")
    with pytest.raises(SystemExit, match=rf"{importer}\.other imports {pruned}"):
        prune_layer.check_nothing_kept_imports_pruned(tmp_path)
