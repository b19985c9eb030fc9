"""Incremental (Delta) xDS over ADS: one `DeltaProtocol` per stream.

Per type it tracks the subscribed names (or wildcard) and the version of each
resource the client holds, and sends only resources whose version differs plus
the names that disappeared.  NACKs are logged and counted; nothing is re-sent
until the resource changes again, so Envoy keeps its last good version.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest

from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot, delta_response
from meshplane.delivery.server.sotw import WILDCARD, WILDCARD_TYPES
from meshplane.snapshot.types import SEND_ORDER, XdsType

log = logging.getLogger(__name__)


@dataclass
class _TypeState:
    wildcard: bool
    subscribed: set[str] = field(default_factory=set)
    known: dict[str, str] = field(default_factory=dict)  # name -> version the client holds


class DeltaProtocol:
    """The Delta half of one ADS stream."""

    def __init__(self, node_id: str, metrics: Metrics) -> None:
        self._node_id = node_id
        self._metrics = metrics
        self._types: dict[XdsType, _TypeState] = {}
        self._nonces = itertools.count(1)

    def on_request(self, request: DeltaDiscoveryRequest, view: PreparedSnapshot) -> list[bytes]:
        try:
            kind = XdsType.from_type_url(request.type_url)
        except ValueError:
            log.warning("%s requested unsupported type %s", self._node_id, request.type_url)
            return []
        subscribe = list(request.resource_names_subscribe)
        state = self._types.get(kind)
        first = state is None
        if state is None:
            state = self._types[kind] = _TypeState(
                wildcard=WILDCARD in subscribe or (kind in WILDCARD_TYPES and not subscribe),
                known=dict(request.initial_resource_versions),
            )
        if request.response_nonce:
            if request.HasField("error_detail"):
                self._metrics.nacks[kind] += 1
                log.warning(
                    "delta NACK from %s for %s (nonce %s): %s",
                    self._node_id,
                    kind.value,
                    request.response_nonce,
                    request.error_detail.message,
                )
            else:
                self._metrics.acks[kind] += 1
        new_names: set[str] = set()
        for name in subscribe:
            if name == WILDCARD:
                state.wildcard = True
            elif name not in state.subscribed:
                state.subscribed.add(name)
                new_names.add(name)
        for name in request.resource_names_unsubscribe:
            if name == WILDCARD:
                state.wildcard = False
            else:
                state.subscribed.discard(name)
                state.known.pop(name, None)
        return self._respond(kind, state, view, new_names, always=first)

    def on_change(self, changed: list[XdsType], view: PreparedSnapshot) -> list[bytes]:
        out: list[bytes] = []
        for kind in SEND_ORDER:
            state = self._types.get(kind)
            if kind in changed and state is not None:
                out += self._respond(kind, state, view, set(), always=False)
        return out

    def _respond(
        self, kind: XdsType, state: _TypeState, view: PreparedSnapshot, new_names: set[str], always: bool
    ) -> list[bytes]:
        prepared = view.types[kind]
        available = prepared.resources
        wanted = set(available) if state.wildcard else state.subscribed & set(available)
        send = [available[n] for n in sorted(wanted) if state.known.get(n) != available[n].version]
        removed = {n for n in state.known if n not in available and (state.wildcard or n in state.subscribed)}
        removed |= {n for n in new_names if n not in available}  # tell Envoy now instead of a fetch timeout
        if not send and not removed and not always:
            return []
        for resource in send:
            state.known[resource.name] = resource.version
        for name in removed:
            state.known.pop(name, None)
        self._metrics.sent(kind, len(send))
        nonce = str(next(self._nonces))
        return [delta_response(kind, prepared.version, (r.delta_chunk for r in send), removed, nonce)]
