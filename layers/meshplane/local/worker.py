"""One function's sandbox: a child process that imports its handler and runs invocations.

A process per function keeps environments, `sys.modules` (every function has a module
named `app`) and crashes apart, as Lambda does. Requests and responses are JSON lines on
a private pipe; the handler's own stdout goes to the log instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from meshplane.local.context import LambdaContext
from meshplane.local.cores import pin


def load_handler(code_dir: Path, handler: str, unique: str) -> Callable[[Any, Any], Any]:
    """Import `<code_dir>/<module>.py` by path under a unique module name."""
    module_name, _, attr = handler.rpartition(".")
    path = code_dir / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"meshplane_function_{unique}_{module_name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load handler module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(code_dir))  # Lambda puts the code root first on sys.path
    spec.loader.exec_module(module)
    function: Callable[[Any, Any], Any] = getattr(module, attr)
    return function


def _profiled(handler: Callable[[Any, Any], Any], directory: str | None, name: str) -> Callable[[Any, Any], Any]:
    """With a profile directory, every invocation runs under cProfile and leaves `<name>-<n>.prof` there:
    how the handler's time splits, for the convergence work (`--profile-dir`)."""
    if not directory:
        return handler
    import cProfile
    import itertools

    counter = itertools.count()

    def run(event: Any, context: Any) -> Any:
        profile = cProfile.Profile()
        try:
            return profile.runcall(handler, event, context)
        finally:
            profile.dump_stats(str(Path(directory) / f"{name}-{os.getpid()}-{next(counter)}.prof"))

    return run


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def serve(spec: dict[str, Any], requests: TextIO, responses: TextIO) -> None:
    pin(spec.get("core"))
    try:
        handler = load_handler(Path(spec["code_dir"]), spec["handler"], spec["logical_id"])
        handler = _profiled(handler, spec.get("profile_dir"), spec["logical_id"])
        responses.write(json.dumps({"ready": True}) + "\n")
    except BaseException as exc:
        traceback.print_exc()
        responses.write(json.dumps({"ready": False, "error": _error(exc)}) + "\n")
        responses.flush()
        return
    responses.flush()
    for line in requests:
        request = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace", "")  # Lambda sets it per invocation
        context = LambdaContext(
            function_name=spec["name"],
            invoked_function_arn=spec["arn"],
            memory_limit_in_mb=spec["memory"],
            timeout_seconds=spec["timeout"],
            aws_request_id=request["request_id"],
        )
        started = time.time()
        try:
            reply: dict[str, Any] = {"result": handler(request["event"], context)}
        except Exception as exc:
            traceback.print_exc()
            reply = {"error": _error(exc)}
        reply["started"], reply["finished"] = started, time.time()  # for the runtime's invocation trace
        try:
            responses.write(json.dumps(reply, default=str) + "\n")
        except (TypeError, ValueError) as exc:
            responses.write(json.dumps({"error": _error(exc), "started": started}) + "\n")
        responses.flush()
        sys.stdout.flush()


def main() -> None:
    spec = json.loads(sys.argv[1])
    responses = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the handler's prints and Powertools logs go to the log, not the protocol pipe
    sys.stdout = os.fdopen(1, "w", buffering=1)
    serve(spec, sys.stdin, responses)


if __name__ == "__main__":
    main()
