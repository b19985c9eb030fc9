"""State-of-the-world xDS over ADS: one `SotwProtocol` per stream.

Per type it remembers the subscription, the last nonce and the version sent.
A request whose nonce is not the latest is stale and ignored; an `error_detail`
is a NACK: it is logged and counted, and the rejected version is not re-sent, so
Envoy keeps serving its last good version until the snapshot changes again.
Changes are sequenced make-before-break (`sequencing`): listeners and routes wait
for the clusters they name, and the clusters a version drops stay in the CDS
responses until the rest of it is in.  A reconnecting Envoy that reports the
previous published clusters gets the same, with that version read back (`hold`).
What a request may ask for is bounded by `requests`: a type this server does not serve
gets an empty answer, a malformed type URL or an oversized subscription ends the stream.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest

from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot, sotw_response
from meshplane.delivery.server.requests import Unserved, check_absent, empty_sotw, served_type
from meshplane.delivery.server.sequencing import DRAINING, GATED, Gate, redefined, settled, stripped
from meshplane.delivery.status.report import NO_STATUS, StatusEvents, named_in
from meshplane.model.addresses import shown
from meshplane.snapshot.types import SEND_ORDER, XdsType

log = logging.getLogger(__name__)

WILDCARD = "*"
WILDCARD_TYPES = frozenset({XdsType.CLUSTERS, XdsType.LISTENERS})


@dataclass
class _TypeState:
    names: frozenset[str] | None  # None: wildcard
    nonce: str = ""
    sent_version: str | None = None
    acked_version: str = ""
    nacked_version: str | None = None
    awaiting: bool = False  # a response is out whose ACK or NACK has not come back
    deferred: bool = False  # owed a response once the gate opens (listeners and routes)


def _subscription(kind: XdsType, names: Iterable[str], state: _TypeState | None) -> frozenset[str] | None:
    asked = frozenset(names)  # straight from the request: an EDS request may name 10,000
    if WILDCARD in asked:
        return None
    if kind in WILDCARD_TYPES and not asked and (state is None or state.names is None):
        return None  # legacy wildcard: an empty list on CDS/LDS means "everything"
    return asked


class SotwProtocol:
    """The SotW half of one ADS stream."""

    def __init__(self, node_id: str, metrics: Metrics, gate: Gate | None = None) -> None:
        self._node_id = node_id
        self._metrics = metrics
        self._types: dict[XdsType, _TypeState] = {}
        self._nonces = itertools.count(1)
        self._gate = gate or Gate()
        self._held: Mapping[str, bytes] = {}  # the clusters (name -> packed) of the last CDS version Envoy ACKed
        self._sent: Mapping[str, bytes] = {}  # those of the last CDS version sent, stale ones left out
        self._draining = False  # the last CDS response still carries clusters its version dropped
        self._unserved = Unserved()
        self.status: StatusEvents = NO_STATUS

    def acked_version(self, kind: XdsType) -> str:
        state = self._types.get(kind)
        return state.acked_version if state else ""

    def on_request(self, request: DiscoveryRequest, view: PreparedSnapshot) -> list[bytes]:
        kind = served_type(request.type_url)
        if kind is None:
            return self._unserved_answer(request)
        state = self._types.get(kind)
        names = _subscription(kind, request.resource_names, state)
        if names is not None:
            check_absent(request.type_url, names, view.types[kind].packed)
        if state is None:
            state = self._types[kind] = _TypeState(names)
            return self._respond(kind, state, view)
        if request.response_nonce != state.nonce:
            return []  # stale: answers a response that has since been superseded
        state.awaiting = False
        if request.HasField("error_detail"):
            state.nacked_version = state.sent_version
            self._metrics.nacks[kind] += 1
            log.warning(
                "NACK from %s for %s version %s (keeping %s): %s",
                self._node_id,
                kind.value,
                state.sent_version,
                request.version_info or "none",
                request.error_detail.message,
            )
            message = request.error_detail.message
            self.status.nacked(kind, state.sent_version, message, named_in(message, view.types[kind].packed))
        else:
            state.acked_version = request.version_info
            self._metrics.acks[kind] += 1
            self.status.acked(kind, request.version_info)
            if kind is XdsType.CLUSTERS and state.names is None:
                self._held = self._sent  # a NACKed version is not held: Envoy kept the one before
        if names != state.names:
            state.names = names
            out = self._respond(kind, state, view)
        else:
            out = self._push_if_new(kind, state, view)
        return out + self._released(view) + self._drained(view)

    def _unserved_answer(self, request: DiscoveryRequest) -> list[bytes]:
        nonce = self._unserved.answer(request.type_url, request.response_nonce, str(next(self._nonces)))
        if nonce is None:
            return []
        log.info("%s asked for %s, which this server does not serve: answered empty", self._node_id,
                 shown(request.type_url))
        return [empty_sotw(request.type_url, nonce)]

    def held_clusters_version(self, request: DiscoveryRequest, view: PreparedSnapshot) -> str | None:
        """The CDS version a reconnecting Envoy holds, when it is not the current one and this
        stream has not yet answered it: the stream then looks that version up (`hold`)."""
        if request.type_url != XdsType.CLUSTERS.type_url or XdsType.CLUSTERS in self._types:
            return None
        held = stripped(request.version_info)
        return held if held and held != view.types[XdsType.CLUSTERS].version else None

    def hold(self, previous: PreparedSnapshot) -> None:
        """Envoy holds `previous`'s clusters: keep the ones the current version drops until it settles."""
        self._held = previous.types[XdsType.CLUSTERS].packed

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
                out += self._push_if_new(kind, state, view)
        return out

    def _push_if_new(self, kind: XdsType, state: _TypeState, view: PreparedSnapshot) -> list[bytes]:
        current = view.types[kind].version
        if current in (state.sent_version, state.nacked_version):
            return []
        return self._respond(kind, state, view)

    def _released(self, view: PreparedSnapshot) -> list[bytes]:
        """The listener and route responses held back while clusters and endpoints were warming."""
        out: list[bytes] = []
        for kind in GATED:
            state = self._types.get(kind)
            if state is not None and state.deferred and self._gate.open(self._types):
                state.deferred = False
                out += self._respond(kind, state, view)
        return out

    def _drained(self, view: PreparedSnapshot) -> list[bytes]:
        """Once the new version is in everywhere, the CDS response that drops the stale clusters."""
        state = self._types.get(XdsType.CLUSTERS)
        if not self._draining or state is None:
            return []
        current = {kind: prepared.version for kind, prepared in view.types.items()}
        if not settled(view, self._types, lambda kind, s: s.names == frozenset() or s.sent_version == current[kind]):
            return []
        if state.nacked_version == state.sent_version:
            self._draining = False  # Envoy refused this version: it keeps its last good clusters anyway
            return []
        return self._respond(XdsType.CLUSTERS, state, view)  # its ACK made `_held` this version's: nothing stale

    def _respond(self, kind: XdsType, state: _TypeState, view: PreparedSnapshot) -> list[bytes]:
        if state.names is not None and not state.names:
            return []  # subscribed to nothing of this type
        if kind in GATED and not self._gate.open(self._types):
            state.deferred = True
            return []
        prepared = view.types[kind]
        rewarmed = False
        if kind is XdsType.CLUSTERS and state.names is None:
            stale = {name: body for name, body in self._held.items() if name not in prepared.packed}
            if stale:  # only the previous version's: a change while draining drops the older ones
                body, count = prepared.sotw_body_holding(stale, prepared.version + DRAINING)
            else:
                body, count = prepared.sotw_body(state.names)
            self._draining = bool(stale)
            rewarmed = bool(redefined(self._sent, prepared.packed))
            self._sent = prepared.packed
        else:
            body, count = prepared.sotw_body(state.names)
        state.nonce = str(next(self._nonces))
        state.sent_version = prepared.version
        state.awaiting = True
        self._metrics.sent(kind, count)
        out = [sotw_response(body, state.nonce)]
        return out + self._endpoints_again(view) if rewarmed else out

    def _endpoints_again(self, view: PreparedSnapshot) -> list[bytes]:
        """The current endpoints once more, after clusters Envoy already had were redefined.

        Envoy warms a redefined EDS cluster until it receives its ClusterLoadAssignment; an
        unchanged assignment would otherwise never be sent, and the cluster, with every
        listener and route update behind it, would wait out Envoy's initial fetch timeout.
        Sent right behind the clusters, it reaches the new clusters' subscriptions; the EDS
        request Envoy sends on creating them then carries an older nonce and is ignored."""
        state = self._types.get(XdsType.ENDPOINTS)
        current = view.types[XdsType.ENDPOINTS].version
        if state is None or state.nacked_version == current or state.sent_version != current:
            return []  # not subscribed yet, refused, or a newer assignment is on its way anyway
        return self._respond(XdsType.ENDPOINTS, state, view)
