"""Invoke one function in its worker process, with Lambda's timeout and crash semantics.

Concurrency is one invocation at a time per function (a lock), which is also what the
template's ordering-sensitive sources ask for. A timed-out or crashed worker is replaced
and the invocation counts as failed, so event sources retry as they would on AWS.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshplane.local import abort
from meshplane.local.cores import core_for
from meshplane.local.plan import FunctionSpec
from meshplane.localnet.processes import stop_group

READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation: a result, or Lambda's error payload."""

    result: Any = None
    error: dict[str, Any] | None = None
    started: float | None = None  # epoch seconds the handler ran, measured in the worker
    finished: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Stats:
    invocations: int = 0
    errors: int = 0
    last_error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"invocations": self.invocations, "errors": self.errors, "lastError": self.last_error}


def trace_header() -> str:
    """An X-Ray trace header like the one Lambda sets per invocation."""
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=1"


def lambda_environment(spec: FunctionSpec, base: Mapping[str, str], region: str) -> dict[str, str]:
    """The variables Lambda sets, under the function's own environment from the template."""
    return {
        **base,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        **spec.environment,
    }


class FunctionInvoker:
    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], log: Path | None,
                 profile_dir: Path | None = None, core: int | None = None) -> None:
        """`core`: the one core the worker runs on (`cores.core_for`); None: any."""
        self.spec, self.env, self.log, self.profile_dir, self.core = spec, dict(env), log, profile_dir, core
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._ready: dict[str, Any] | None = None

    def start(self) -> None:
        """Start the worker without waiting for its import, so several start in parallel."""
        spec = {
            "logical_id": self.spec.logical_id,
            "name": self.spec.name,
            "arn": self.spec.arn,
            "code_dir": str(self.spec.code_dir),
            "handler": self.spec.handler,
            "memory": self.spec.memory,
            "timeout": self.spec.timeout,
            "profile_dir": str(self.profile_dir) if self.profile_dir else None,
            "core": self.core,
        }
        log = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
        try:
            with abort.deferred():
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "meshplane.local.worker", json.dumps(spec)],
                    env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                    start_new_session=True, cwd=str(self.spec.code_dir) if self.spec.code_dir.is_dir() else None,
                )
        finally:
            if not isinstance(log, int):
                log.close()
        self._replies = queue.Queue()
        self._ready = None
        threading.Thread(target=self._read, args=(self._process, self._replies), daemon=True).start()

    @staticmethod
    def _read(process: subprocess.Popen[bytes], replies: queue.Queue[dict[str, Any] | None]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            replies.put(json.loads(line))
        replies.put(None)  # the worker exited

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
        if self._ready is None:
            try:
                self._ready = self._replies.get(timeout=timeout) or {"ready": False, "error": _died()}
            except queue.Empty:
                timeout_error = {"errorType": "InitTimeout", "errorMessage": "import timed out"}
                self._ready = {"ready": False, "error": timeout_error}
        return self._ready

    def invoke(self, event: Any) -> Invocation:
        with self._lock:
            return self._invoke_locked(event)

    def _invoke_locked(self, event: Any) -> Invocation:
        if self._process is None or self._process.poll() is not None:
            self.start()
        ready = self.wait_ready()
        if not ready.get("ready"):
            self._restart()  # Lambda retries the init on the next invocation
            return Invocation(error=ready.get("error"))
        process = self._process
        assert process is not None and process.stdin is not None
        request = {"request_id": str(uuid.uuid4()), "event": event, "trace": trace_header()}
        try:
            process.stdin.write((json.dumps(request) + "\n").encode())
            process.stdin.flush()
            reply = self._replies.get(timeout=self.spec.timeout)
        except (BrokenPipeError, OSError):
            reply = None
        except queue.Empty:
            self._restart()
            return Invocation(error={"errorType": "Sandbox.Timedout",
                                     "errorMessage": f"Task timed out after {self.spec.timeout}.00 seconds"})
        if reply is None:
            self._restart()
            return Invocation(error=_died())
        return Invocation(result=reply.get("result"), error=reply.get("error"),
                          started=reply.get("started"), finished=reply.get("finished"))

    def _restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self._process is not None:
            stop_group(self._process, grace=2.0)
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
            self._process = None


def _died() -> dict[str, Any]:
    return {"errorType": "Runtime.ExitError", "errorMessage": "the function's process exited"}


def base_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """What every local function inherits: the emulator endpoint and dummy credentials."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MESHPLANE_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        AWS_DISABLE_HOST_PREFIX_INJECTION="true",
        AWS_DEFAULT_REGION=region,
        AWS_REGION=region,
    )
    env.pop("AWS_PROFILE", None)
    return env


class FunctionPool:
    """Up to `size` warm workers of one function: Lambda's concurrency, bounded locally.

    One worker starts eagerly; more start only when invocations overlap.
    """

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], log: Path | None, size: int = 1,
                 profile_dir: Path | None = None) -> None:
        self.spec, self.env, self.log, self.size, self.profile_dir = spec, env, log, size, profile_dir
        self._idle: queue.LifoQueue[FunctionInvoker] = queue.LifoQueue()
        self._all: list[FunctionInvoker] = []
        self._grow = threading.Lock()
        self.stats = Stats()
        self._stats_lock = threading.Lock()

    def start(self) -> None:
        self._idle.put(self._new())

    def _new(self) -> FunctionInvoker:
        worker = FunctionInvoker(self.spec, self.env, self.log, self.profile_dir,
                                 core_for(len(self._all), self.size))
        self._all.append(worker)  # recorded before it starts, so stop() finds it whatever interrupts start()
        worker.start()
        return worker

    def wait_ready(self) -> dict[str, Any]:
        return self._all[0].wait_ready() if self._all else {"ready": False}

    def _acquire(self) -> FunctionInvoker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            with self._grow:
                if len(self._all) < self.size:
                    return self._new()
            return self._idle.get()

    def invoke(self, event: Any) -> Invocation:
        worker = self._acquire()
        try:
            outcome = worker.invoke(event)
        finally:
            self._idle.put(worker)
        with self._stats_lock:
            self.stats.invocations += 1
            if not outcome.ok:
                self.stats.errors += 1
                self.stats.last_error = outcome.error
        return outcome

    def stop(self) -> None:
        for worker in self._all:
            worker.stop()
