"""State-of-the-world xDS over ADS: one `SotwProtocol` per stream.

Per type it remembers the subscription, the last nonce and the version sent.
A request whose nonce is not the latest is stale and ignored; an `error_detail`
is a NACK: it is logged and counted, and the rejected version is not re-sent, so
Envoy keeps serving its last good version until the snapshot changes again.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest

from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot, sotw_response
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


def _subscription(kind: XdsType, names: list[str], state: _TypeState | None) -> frozenset[str] | None:
    if WILDCARD in names:
        return None
    if kind in WILDCARD_TYPES and not names and (state is None or state.names is None):
        return None  # legacy wildcard: an empty list on CDS/LDS means "everything"
    return frozenset(names)


class SotwProtocol:
    """The SotW half of one ADS stream."""

    def __init__(self, node_id: str, metrics: Metrics) -> None:
        self._node_id = node_id
        self._metrics = metrics
        self._types: dict[XdsType, _TypeState] = {}
        self._nonces = itertools.count(1)

    def acked_version(self, kind: XdsType) -> str:
        state = self._types.get(kind)
        return state.acked_version if state else ""

    def on_request(self, request: DiscoveryRequest, view: PreparedSnapshot) -> list[bytes]:
        try:
            kind = XdsType.from_type_url(request.type_url)
        except ValueError:
            log.warning("%s requested unsupported type %s", self._node_id, request.type_url)
            return []
        state = self._types.get(kind)
        names = _subscription(kind, list(request.resource_names), state)
        if state is None:
            state = self._types[kind] = _TypeState(names)
            return self._respond(kind, state, view)
        if request.response_nonce != state.nonce:
            return []  # stale: answers a response that has since been superseded
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
        else:
            state.acked_version = request.version_info
            self._metrics.acks[kind] += 1
        if names != state.names:
            state.names = names
            return self._respond(kind, state, view)
        return self._push_if_new(kind, state, view)

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

    def _respond(self, kind: XdsType, state: _TypeState, view: PreparedSnapshot) -> list[bytes]:
        if state.names is not None and not state.names:
            return []  # subscribed to nothing of this type
        prepared = view.types[kind]
        body, count = prepared.sotw_body(state.names)
        state.nonce = str(next(self._nonces))
        state.sent_version = prepared.version
        self._metrics.sent(kind, count)
        return [sotw_response(body, state.nonce)]
