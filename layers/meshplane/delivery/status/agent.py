"""The file agent's Envoy status: what the agent applied, or why it could not.

The agent has no ACKs: writing a version's files is its "applied" (Envoy reads them
itself), and a version it could not fetch or write is its rejection, with the error as
the message.  It runs one Envoy and no event loop, so it offers to its own coalescer
and writes what is due from its poll (`flush`), within the same bounds as a server.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from meshplane.delivery.status.coalescer import Coalescer
from meshplane.delivery.status.writer import StatusStore, WriteCounts, write
from meshplane.model.ids import ProxyId
from meshplane.publication.pointer import Pointer
from meshplane.store.proxy_status import EnvoyStatus, Nack, clipped

log = logging.getLogger(__name__)
FILE_DELIVERY = "file"
APPLY_FAILED = "meshplane.agent/apply"  # the `typeUrl` of an agent's failure: no single xDS type was refused


def default_instance(env: dict[str, str] | None = None) -> str:
    """The ECS task (the App Mesh image's `ECS_TASK_ARN`) when there is one, else the host name."""
    task = (env if env is not None else os.environ).get("ECS_TASK_ARN", "")
    return task.rsplit("/", 1)[-1] if task else socket.gethostname()


class AgentReport:
    """One agent's Envoy, offered on each apply and written from the agent's poll."""

    def __init__(self, store: StatusStore, proxy: ProxyId, instance: str, coalescer: Coalescer | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self._store = store
        self._clock = clock
        self.coalescer = coalescer if coalescer is not None else Coalescer()
        self.counts = WriteCounts()
        now = clock()
        self.status = EnvoyStatus(proxy, proxy.path, instance, uuid.uuid4().hex[:12], FILE_DELIVERY,
                                  connected_at=now, seen=now)  # fmt: skip

    def applied(self, pointer: Pointer) -> None:
        self._offer(replace(self.status, acked=dict(pointer.versions), applied=pointer.version, nack=None,
                            seen=self._clock()))  # fmt: skip

    def failed(self, pointer: Pointer, error: Exception) -> None:
        nack = Nack(APPLY_FAILED, pointer.version, clipped(f"{type(error).__name__}: {error}"), at=self._clock())
        self._offer(replace(self.status, nack=nack, seen=self._clock()), urgent=True)
        self.flush()

    def stopped(self) -> None:
        self._offer(replace(self.status, connected=False, seen=self._clock()))
        self.flush(everything=True)

    def _offer(self, status: EnvoyStatus, *, urgent: bool = False) -> None:
        self.status = status
        self.coalescer.offer(status, urgent=urgent)

    def flush(self, *, everything: bool = False) -> None:
        """Write what is due (everything pending when the agent stops); a failure is logged and kept."""
        due = self.coalescer.drain() if everything else self.coalescer.take()
        if not due:
            return
        try:
            write(self._store, due, self.counts)
        except Exception:
            self.counts.failures += 1
            log.exception("writing the proxy status of %s failed; offered again", self.status.proxy)
            self.coalescer.failed(due)
