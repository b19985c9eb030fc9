"""Incremental (Delta) xDS over ADS: one `DeltaProtocol` per stream.

Per type it tracks the subscribed names (or wildcard) and the version of each
resource the client holds, and sends only resources whose version differs plus
the names that disappeared.  NACKs are logged and counted; nothing is re-sent
until the resource changes again, so Envoy keeps its last good version.
Changes are sequenced make-before-break (`sequencing`): listeners and routes wait
for the clusters they name, and the clusters and endpoints a version drops are
removed only once the rest of it is in; on a reconnect too, as Envoy lists what it holds.
What a request may ask for is bounded by `requests`: a type this server does not serve
gets an empty answer (its names removed), a malformed type URL or an oversized
subscription ends the stream, and an ACK or NACK counts only for a nonce this stream sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest

from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot, delta_response
from meshplane.delivery.server.requests import Unserved, check_absent, empty_delta, issued, served_type
from meshplane.delivery.server.sequencing import GATED, Gate, settled
from meshplane.delivery.server.sotw import WILDCARD, WILDCARD_TYPES
from meshplane.delivery.status.report import NO_STATUS, StatusEvents, named_in
from meshplane.model.addresses import shown
from meshplane.snapshot.types import SEND_ORDER, XdsType

log = logging.getLogger(__name__)
_DRAINED = (XdsType.CLUSTERS, XdsType.ENDPOINTS)


@dataclass
class _TypeState:
    wildcard: bool
    subscribed: set[str] = field(default_factory=set)
    known: dict[str, str] = field(default_factory=dict)  # name -> version the client holds
    nonce: str = ""
    awaiting: bool = False  # a response is out whose ACK or NACK has not come back
    sent_version: str = ""  # the snapshot version of the type that the response with `nonce` carried
    draining: set[str] = field(default_factory=set)  # held names the view dropped, removal deferred
    drain_version: str = ""  # the version whose stale names `draining` holds
    deferred: bool = False  # owed a response once the gate opens (listeners and routes)
    owed_names: set[str] = field(default_factory=set)  # names subscribed while deferred
    owed_always: bool = False  # the deferred response is the first one, sent even if empty


class DeltaProtocol:
    """The Delta half of one ADS stream."""

    def __init__(self, node_id: str, metrics: Metrics, gate: Gate | None = None) -> None:
        self._node_id = node_id
        self._metrics = metrics
        self._types: dict[XdsType, _TypeState] = {}
        self._last_nonce = 0
        self._gate = gate or Gate()
        self._unserved = Unserved()
        self.status: StatusEvents = NO_STATUS

    def _next_nonce(self) -> str:
        self._last_nonce += 1
        return str(self._last_nonce)

    def on_request(self, request: DeltaDiscoveryRequest, view: PreparedSnapshot) -> list[bytes]:
        kind = served_type(request.type_url)
        subscribe = list(request.resource_names_subscribe)
        if kind is None:
            return self._unserved_answer(request, subscribe)
        state = self._types.get(kind)
        available = view.types[kind].packed
        held = {*(state.subscribed if state is not None else ()), *subscribe, *request.initial_resource_versions}
        check_absent(request.type_url, held, available)
        first = state is None
        if state is None:
            state = self._types[kind] = _TypeState(
                wildcard=WILDCARD in subscribe or (kind in WILDCARD_TYPES and not subscribe),
                known=dict(request.initial_resource_versions),
            )
        if request.response_nonce and issued(request.response_nonce, self._last_nonce):
            latest = request.response_nonce == state.nonce
            if latest:
                state.awaiting = False
            if request.HasField("error_detail"):
                self._metrics.nacks[kind] += 1
                log.warning(
                    "delta NACK from %s for %s (nonce %s): %s",
                    self._node_id,
                    kind.value,
                    request.response_nonce,
                    request.error_detail.message,
                )
                message = request.error_detail.message
                self.status.nacked(kind, state.sent_version if latest else None, message,
                                   named_in(message, available))  # fmt: skip
            else:
                self._metrics.acks[kind] += 1
                if latest:
                    self.status.acked(kind, state.sent_version)
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
        out = self._respond(kind, state, view, new_names, always=first)
        return out + self._released(view) + self._drained(view)

    def _unserved_answer(self, request: DeltaDiscoveryRequest, subscribe: list[str]) -> list[bytes]:
        check_absent(request.type_url, subscribe)
        nonce = self._unserved.answer(request.type_url, request.response_nonce, self._next_nonce())
        if nonce is None:
            return []
        log.info("%s asked for %s, which this server does not serve: answered empty", self._node_id,
                 shown(request.type_url))
        return [empty_delta(request.type_url, (n for n in subscribe if n != WILDCARD), nonce)]

    def held_clusters_version(self, request: DeltaDiscoveryRequest, view: PreparedSnapshot) -> str | None:
        return None  # a Delta client lists what it holds; keeping it needs no definitions

    def hold(self, previous: PreparedSnapshot) -> None:
        pass

    def wake_in(self) -> float | None:
        """When listeners or routes are held back, the seconds until the gate stops waiting for ACKs."""
        return self._gate.wake_in() if any(state.deferred for state in self._types.values()) else None

    def on_wake(self, view: PreparedSnapshot) -> list[bytes]:
        return self._released(view)

    def on_change(self, changed: list[XdsType], view: PreparedSnapshot) -> list[bytes]:
        out: list[bytes] = []
        for kind in SEND_ORDER:
            state = self._types.get(kind)
            if kind in changed and state is not None:
                out += self._respond(kind, state, view, set(), always=False)
        return out

    def _released(self, view: PreparedSnapshot) -> list[bytes]:
        """The listener and route responses held back while clusters and endpoints were warming."""
        out: list[bytes] = []
        for kind in GATED:
            state = self._types.get(kind)
            if state is not None and state.deferred and self._gate.open(self._types):
                names, always = state.owed_names, state.owed_always
                state.deferred, state.owed_names, state.owed_always = False, set(), False
                out += self._respond(kind, state, view, names, always)
        return out

    def _respond(
        self, kind: XdsType, state: _TypeState, view: PreparedSnapshot, new_names: set[str], always: bool
    ) -> list[bytes]:
        prepared = view.types[kind]
        available = prepared.resources
        wanted = set(available) if state.wildcard else state.subscribed & set(available)
        send = [available[n] for n in sorted(wanted) if state.known.get(n) != available[n].version]
        removed = {n for n in state.known if n not in available and (state.wildcard or n in state.subscribed)}
        if kind in _DRAINED:  # removed after the rest of this version is in
            if state.drain_version != prepared.version:  # a new version: the previous one's stale go now
                removed, state.draining = state.draining & removed, removed - state.draining
                state.drain_version = prepared.version
            else:
                removed -= state.draining
        removed |= {n for n in new_names if n not in available}  # tell Envoy now instead of a fetch timeout
        if not send and not removed and not always:
            return []
        if kind in GATED and not self._gate.open(self._types):  # nothing above changed state: redone on release
            state.deferred = True
            state.owed_names |= new_names
            state.owed_always |= always
            return []
        redefined = [r.name for r in send if r.name in state.known] if kind is XdsType.CLUSTERS else []
        for resource in send:
            state.known[resource.name] = resource.version
        for name in removed:
            state.known.pop(name, None)
        self._metrics.sent(kind, len(send))
        nonce = state.nonce = self._next_nonce()
        state.awaiting, state.sent_version = True, prepared.version
        out = [delta_response(kind, prepared.version, (r.delta_chunk for r in send), removed, nonce)]
        return out + self._endpoints_again(redefined, view) if redefined else out

    def _endpoints_again(self, clusters: list[str], view: PreparedSnapshot) -> list[bytes]:
        """The endpoints of redefined clusters once more, right behind them: Envoy warms a redefined
        EDS cluster until its assignment arrives, and a Delta client does not ask again for a
        resource it is subscribed to, so an unchanged one would wait out the initial fetch timeout."""
        state = self._types.get(XdsType.ENDPOINTS)
        if state is None:
            return []
        for name in clusters:  # an EDS cluster's assignment is named as the cluster (translate.clusters)
            state.known.pop(name, None)
        return self._respond(XdsType.ENDPOINTS, state, view, set(), always=False)

    def _drained(self, view: PreparedSnapshot) -> list[bytes]:
        """Once the new version is in everywhere, remove the stale clusters, then their endpoints."""
        if not any(self._types[k].draining for k in _DRAINED if k in self._types):
            return []
        if not settled(view, self._types):
            return []
        out: list[bytes] = []
        for kind in _DRAINED:
            state = self._types.get(kind)
            if state is None or not state.draining:
                continue
            gone, state.draining = {n for n in state.draining if n not in view.types[kind].packed}, set()
            for name in gone:
                state.known.pop(name, None)
            if gone:
                nonce = state.nonce = self._next_nonce()
                state.awaiting, state.sent_version = True, view.types[kind].version
                out.append(delta_response(kind, view.types[kind].version, (), gone, nonce))
        return out
