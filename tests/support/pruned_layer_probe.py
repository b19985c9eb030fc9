"""Run inside a fresh interpreter: one handler's first invocation with everything prune_layer.py drops refused.

`python pruned_layer_probe.py <function>` prints one JSON line.  The built layer is
aarch64, so it cannot be imported on the test host; instead this runs the handler
from the source tree with the venv's packages, tracing on, while a `sys.meta_path` finder
raises ImportError for every module `prune_layer.BLOCKED` names and every proto
module `prune_layer.prune_protos` deletes, and an audit hook records any open of a
junk file it deletes.  The event and the moto set-up are the cold-start
bench's (`bench/suite_coldstart.py`, `bench/coldstart_first_call.py`).
`PRUNE_PROBE_ALSO_BLOCK` (comma-separated) blocks more, to show the probe can fail.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
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


def main(function: str) -> None:
    os.environ.update({**LAMBDA_ENV, **TRACING_ENV})
    event_file = FIRST_CALL_EVENTS[function]
    event = first_call.api_event() if event_file == "-" else json.loads((REPO / "events" / event_file).read_text())
    event = first_call.answer_on_loopback(event)
    extra = [p for p in os.environ.get("PRUNE_PROBE_ALSO_BLOCK", "").split(",") if p]
    blocker = Blocker([*prune_layer.BLOCKED, *extra], pruned_protos())
    sys.path.insert(0, str(REPO / "functions" / function))
    from moto import mock_aws

    with mock_aws():
        first_call.setup(LAMBDA_ENV["MESHPLANE_TABLE"], LAMBDA_ENV["MESHPLANE_BUCKET"], LAMBDA_ENV["MESHPLANE_BUS"])
        preloaded = sorted(
            m for m in sys.modules if m in blocker.modules or prune_layer.is_blocked(m, blocker.prefixes)
        )
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
    print(
        json.dumps(
            {
                "function": function,
                "error": error,
                "result": result,
                "refused": blocker.refused,
                "opened_pruned_files": opened,
                "evicted_after_moto": preloaded,
                "loaded": sorted(m for m in sys.modules if m.split(".")[0] in REPORTED_TOPS),
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
