"""Per-invocation timing of the local runtime, one JSON line per invocation.

Why: convergence latency is the sum of hops (queue → poller → handler → stream → handler);
these lines let a benchmark place each hop on one wall clock.  Fields, all epoch seconds:
`sources` (when each record became available: SQS `SentTimestamp`, stream
`ApproximateCreationDateTime`), `called` (the poller handed the batch over), `started` /
`finished` (the handler ran, measured inside the worker) and `returned` (the reply was back).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshplane.local.invoker import Invocation

TRACE_FILE = "invocations.jsonl"
ROTATE_BYTES = 10 * 1024 * 1024  # a long-running `local up` keeps the last 10 to 20 MB


def source_times(event: Any) -> list[float]:
    """When each record of a Lambda event became available to the poller, where the record says so."""
    records = event.get("Records") if isinstance(event, dict) else None
    times: list[float] = []
    for record in records or []:
        if not isinstance(record, dict):
            continue
        sent = (record.get("attributes") or {}).get("SentTimestamp")
        created = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
        if sent is not None:
            times.append(int(sent) / 1000)
        elif isinstance(created, int | float):
            times.append(float(created))
    return times


class InvocationTrace:
    """Appends one line per invocation; thread-safe; past `rotate_bytes` the file moves to `<name>.1`."""

    def __init__(self, path: Path, rotate_bytes: int = ROTATE_BYTES) -> None:
        self.path, self.rotate_bytes = path, rotate_bytes
        self._lock = threading.Lock()
        self._file = path.open("a", buffering=1)

    def wrap(self, function: str, invoke: Callable[[Any], Invocation]) -> Callable[[Any], Invocation]:
        def traced(event: Any) -> Invocation:
            called = time.time()
            outcome = invoke(event)
            self.write({"function": function, "sources": source_times(event), "called": called,
                        "started": outcome.started, "finished": outcome.finished, "returned": time.time(),
                        "ok": outcome.ok})
            return outcome

        return traced

    def write(self, line: dict[str, Any]) -> None:
        text = json.dumps(line) + "\n"
        with self._lock:
            if self._file.closed:
                return
            self._file.write(text)
            if self._file.tell() > self.rotate_bytes:
                self._file.close()
                self.path.replace(self.path.with_name(self.path.name + ".1"))
                self._file = self.path.open("a", buffering=1)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read(path: Path) -> list[dict[str, Any]]:
    """The trace lines written so far (a torn last line is skipped)."""
    lines = []
    for text in path.read_text().splitlines() if path.exists() else []:
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    return lines
