"""One process, one forked child per handler: each runs its first invocation with what prune_layer.py drops refused.

`python pruned_layer_probe.py <run> ...`, where a run is `<function>` or
`<function>:<module>,<module>` (those modules refused too, to show the probe can fail),
prints, as its last line, one JSON object: every run's report and its child's exit status.
The built layer is aarch64, so it cannot be imported on the test host; instead each
handler runs from the source tree with the venv's packages, tracing on, while a
`sys.meta_path` finder raises ImportError for every module `prune_layer.BLOCKED` names
and every proto module `prune_layer.prune_protos` deletes, and an audit hook records any
open of a junk file it deletes.  The event and the moto set-up are the cold-start
bench's (`bench/suite_coldstart.py`, `bench/coldstart_first_call.py`).

Importing moto and its first set-up (backends, service models, region lists) cost seconds
and come before the blocker in a fresh interpreter too, so the parent does them once,
under a mock it then stops, and forks: each child holds the modules a fresh probe holds
after its set-up, and starts its own mock and state.  The parent refuses to fork once any
module the reports look at (ours, Powertools, the X-Ray SDK, pydantic, wrapt, the protos),
a handler or boto3's default session is loaded, so a child's `loaded`, `refused` and
`opened_pruned_files` are its own.  Children never stop their mock (the process ends with
the report), and moto loads no fake AMIs (`MOTO_ENV`): both only cost time.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import threading
import traceback
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# this folder holds support/envoy.py, which would shadow the `envoy` protos: the runtime's path is not ours
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path[:0] = [str(REPO / "layers"), str(REPO / "bench")]

import coldstart_first_call as first_call  # noqa: E402
import prune_layer  # noqa: E402
from suite_coldstart import FIRST_CALL_EVENTS, LAMBDA_ENV  # noqa: E402

# As on Lambda with `Tracing: Active`, so the Tracer patches boto and loads the X-Ray SDK's patchers
TRACING_ENV = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
}
MOTO_ENV = {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}  # 1,300 fake images per EC2 backend, which no handler looks at
REPORTED_TOPS = (
    "aws_lambda_powertools",
    "aws_xray_sdk",
    "pydantic",
    "pydantic_core",
    "google",
    "envoy",
    "wrapt",
    "meshplane",
)


class Blocker(MetaPathFinder):
    """Refuses the pruned modules, as their absence from the layer would, and remembers who asked."""

    def __init__(self, prefixes: Sequence[str], modules: set[str]) -> None:
        self.prefixes = tuple(prefixes)
        self.modules = modules
        self.refused: list[str] = []

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec:
        if fullname in self.modules or prune_layer.is_blocked(fullname, self.prefixes):
            self.refused.append(fullname)
            raise ImportError(f"{fullname} is pruned from the Lambda layer", name=fullname)
        return None  # type: ignore[return-value]  # not ours: let the next finder look


def pruned_protos() -> set[str]:
    """The proto modules prune_layer deletes, computed the same way on this venv's xds-protos."""
    site = Path(sysconfig.get_paths()["purelib"])
    modules = prune_layer.proto_modules(site)
    return set(modules) - prune_layer.proto_closure(prune_layer.our_files(REPO / "layers" / "meshplane"), modules)


def watch_opens(opened: list[str]) -> None:
    """Record opens of files prune_layer deletes that no import would show: install junk."""
    junk = prune_layer.JUNK_SUFFIXES + tuple(f"/{n}" for n in prune_layer.JUNK_IN_DIST_INFO)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(args[0], str | Path) and str(args[0]).endswith(junk):
            opened.append(str(args[0]))

    sys.addaudithook(hook)


COLORS_MESH = {  # (sort key, kind, name, parent, spec): the mesh the sample stream batch's route change is in
    "MESH": ("mesh", "colors", None, {}),
    "virtualNode#blue": ("virtualNode", "blue", None, {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": "blue.colors.local"}}}),
    "virtualNode#front": ("virtualNode", "front", None, {
        "listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}],
        "backends": [{"virtualService": {"virtualServiceName": "colors.local"}}]}),
    "virtualRouter#colors-router": ("virtualRouter", "colors-router", None,
                                    {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}),
    "route#colors-router#colors-route": ("route", "colors-route", "colors-router", {"httpRoute": {
        "match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "blue", "weight": 1}]}}}),
    "virtualService#colors.local": ("virtualService", "colors.local", None,
                                    {"provider": {"virtualRouter": {"virtualRouterName": "colors-router"}}}),
}


def seed_colors_mesh(table: str) -> None:
    """The mesh of the recompute's sample event, written as the store writes it (plain boto3, so that no module of
    the layer is loaded before the handler): its route change then rebuilds and translates front and blue, as a
    recompute does, instead of finding no mesh."""
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    for sk, (kind, name, parent, spec) in COLORS_MESH.items():
        arn = "arn:aws:appmesh:us-east-1:123456789012:mesh/colors" + ("" if kind == "mesh" else (
            f"/virtualRouter/{parent}/route/{name}" if parent else f"/{kind}/{name}"))
        item = {"pk": {"S": "MESH#colors"}, "sk": {"S": sk}, "kind": {"S": kind}, "mesh": {"S": "colors"},
                "name": {"S": name}, "arn": {"S": arn}, "uid": {"S": f"uid-{sk}"}, "version": {"N": "1"},
                "createdAt": {"N": "1764064000"}, "lastUpdatedAt": {"N": "1764064800"},
                "meshOwner": {"S": "123456789012"}, "resourceOwner": {"S": "123456789012"},
                "status": {"S": "ACTIVE"}, "spec": {"S": json.dumps(spec)}, "tags": {"M": {}}, "tokens": {"L": []},
                **({"parent": {"S": parent}} if parent else {})}
        client.put_item(TableName=table, Item=item)


def main(function: str, also_block: Sequence[str], protos: set[str]) -> dict[str, Any]:
    """Set up moto, refuse the pruned modules, import the handler and run its sample event: the report."""
    event_file = FIRST_CALL_EVENTS[function]
    event = first_call.api_event() if event_file == "-" else json.loads((REPO / "events" / event_file).read_text())
    event = first_call.answer_on_loopback(event)
    blocker = Blocker([*prune_layer.BLOCKED, *also_block], protos)
    sys.path.insert(0, str(REPO / "functions" / function))
    from moto import mock_aws

    mock_aws().start()  # never stopped: the child ends with its report, and a stop would rebuild every backend
    first_call.setup(LAMBDA_ENV["MESHPLANE_TABLE"], LAMBDA_ENV["MESHPLANE_BUCKET"], LAMBDA_ENV["MESHPLANE_BUS"])
    if function == "recompute":
        seed_colors_mesh(LAMBDA_ENV["MESHPLANE_TABLE"])
    preloaded = sorted(m for m in sys.modules if m in blocker.modules or prune_layer.is_blocked(m, blocker.prefixes))
    for name in preloaded:  # moto imports yaml itself: forget it, so that the handler would have to import it
        del sys.modules[name]
    opened: list[str] = []
    watch_opens(opened)
    sys.meta_path.insert(0, blocker)
    try:
        import app  # type: ignore[import-not-found]

        result = app.handler(event, first_call.Context())
        error = None
    except Exception as exc:  # reported to the test, which fails on it
        result, error = {}, f"{type(exc).__name__}: {exc}"
    return {
        "function": function,
        "error": error,
        "result": result,
        "refused": blocker.refused,
        "opened_pruned_files": opened,
        "evicted_after_moto": preloaded,
        "loaded": sorted(m for m in sys.modules if m.split(".")[0] in REPORTED_TOPS),
    }


def warm_moto() -> None:
    """Import moto and run the set-up once, as a fresh probe does before its blocker; the children reuse moto's caches.

    Stopping the mock resets every backend: each child starts its own and sets up its own state.
    """
    from moto import mock_aws

    with mock_aws():
        first_call.setup(LAMBDA_ENV["MESHPLANE_TABLE"], LAMBDA_ENV["MESHPLANE_BUCKET"], LAMBDA_ENV["MESHPLANE_BUS"])


def check_nothing_reported_is_loaded() -> None:
    """A child must load every module its report names itself, and be alone: else it could pass on the parent's."""
    import boto3

    leaked = sorted(m for m in sys.modules if m.split(".")[0] in REPORTED_TOPS or m == "app")
    if leaked:
        raise SystemExit(f"the probe's parent loaded what a child must load itself: {leaked}")
    if boto3.DEFAULT_SESSION is not None:  # the handlers' clients come from it: each child builds its own
        raise SystemExit("the probe's parent built boto3's default session")
    if threading.active_count() != 1:
        raise SystemExit(f"the probe's parent runs threads, which a fork would not carry: {threading.enumerate()}")


def run_child(run: str, protos: set[str]) -> tuple[dict[str, Any] | None, int]:
    """Fork a child for one run; its report (None if it crashed) and its exit status."""
    function, _, extra = run.partition(":")
    reader, writer = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the parent's loop
        os.close(reader)
        status = 1
        try:
            os.chdir(REPO / "functions" / function)
            report = main(function, [m for m in extra.split(",") if m], protos)
            with os.fdopen(writer, "w") as out:
                out.write(json.dumps(report, default=str))
            status = 0
        except BaseException:  # anything at all: the parent reports the status, the traceback is on stderr
            print(f"probe run {run!r} crashed:", file=sys.stderr)
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    os.close(writer)
    with os.fdopen(reader) as got:
        text = got.read()
    _, wait_status = os.waitpid(pid, 0)
    status = os.waitstatus_to_exitcode(wait_status)
    return (json.loads(text) if status == 0 and text else None), status


def probe(runs: Sequence[str]) -> int:
    """Every run in its own child, one after another; non-zero if any child crashed."""
    os.environ.update({**LAMBDA_ENV, **TRACING_ENV, **MOTO_ENV})  # before moto's import, as in a fresh probe
    unknown = [r for r in runs if r.partition(":")[0] not in FIRST_CALL_EVENTS]
    if unknown:
        raise SystemExit(f"no sample event for {unknown}")
    protos = pruned_protos()
    warm_moto()
    check_nothing_reported_is_loaded()
    reports: dict[str, dict[str, Any] | None] = {}
    statuses: dict[str, int] = {}
    for run in runs:
        reports[run], statuses[run] = run_child(run, protos)
    print(json.dumps({"reports": reports, "exit_statuses": statuses}))
    return 0 if not any(statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(probe(sys.argv[1:]))
