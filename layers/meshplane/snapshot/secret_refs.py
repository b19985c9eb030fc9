"""Which ADS-delivered secrets a snapshot's listeners and clusters reference, and in which role.

Shared by the consistency check (every reference must be answered) and the
pipeline's ACM export (a certificate reference wants a key pair, a validation
reference a trust bundle), so both read the TLS contexts the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf.message import Message

from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType


@dataclass(frozen=True)
class SecretRef:
    """One ADS secret reference: `validation` for trust (CA) secrets, else a certificate; `where` names the user."""

    name: str
    validation: bool
    where: str


def chains(listener: listener_pb2.Listener) -> Iterator[listener_components_pb2.FilterChain]:
    yield from listener.filter_chains
    if listener.HasField("default_filter_chain"):
        yield listener.default_filter_chain


def _refs(holder: Message, context_type: type[Message], where: str) -> Iterator[SecretRef]:
    if not holder.HasField("transport_socket"):  # type: ignore[attr-defined]
        return
    context = context_type()
    if not holder.transport_socket.typed_config.Unpack(context):  # type: ignore[attr-defined]
        return
    common: tls_pb2.CommonTlsContext = context.common_tls_context  # type: ignore[attr-defined]
    found = [(ref, False) for ref in common.tls_certificate_sds_secret_configs]
    if common.HasField("combined_validation_context"):
        found.append((common.combined_validation_context.validation_context_sds_secret_config, True))
    if common.HasField("validation_context_sds_secret_config"):
        found.append((common.validation_context_sds_secret_config, True))
    yield from (SecretRef(ref.name, validation, where) for ref, validation in found if ref.sds_config.HasField("ads"))


def ads_secret_refs(snapshot: Snapshot) -> Iterator[SecretRef]:
    """Every ADS secret reference of the snapshot's clusters, then its listeners, in name order."""
    for name, cluster in sorted(snapshot.of(XdsType.CLUSTERS).items()):
        yield from _refs(cluster, tls_pb2.UpstreamTlsContext, f"cluster {name}")
    for name, listener in sorted(snapshot.of(XdsType.LISTENERS).items()):
        assert isinstance(listener, listener_pb2.Listener)
        for chain in chains(listener):
            yield from _refs(chain, tls_pb2.DownstreamTlsContext, f"listener {name}")
