"""Tiny pure constructors shared by every xDS type module (Contour's envoy/v3 helpers)."""

from __future__ import annotations

import functools

from envoy.config.core.v3 import address_pb2, config_source_pb2
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message

from meshplane.model import shapes

MAX_INT32 = 2147483647


@functools.cache
def ads() -> config_source_pb2.ConfigSource:
    """Every dynamic reference goes back over the same ADS stream, v3 transport.

    Cached (built on first use, never mutated: callers copy it into their messages).
    """
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3
    )


def seconds(value: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromMilliseconds(round(value * 1000))
    return out


def millis(value: int) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromMilliseconds(value)
    return out


def duration(value: shapes.Duration) -> duration_pb2.Duration:
    """An App Mesh duration; the unit defaults to seconds as the API documents."""
    amount = value.value or 0
    return millis(amount if value.unit == "ms" else amount * 1000)


def positive(value: duration_pb2.Duration) -> duration_pb2.Duration:
    """Envoy refuses a zero interval where App Mesh's API allows 0: use the smallest it takes."""
    return value if value.ToMilliseconds() > 0 else millis(1)


def address(host: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(socket_address=address_pb2.SocketAddress(address=host, port_value=port))


def typed(message: Message) -> any_pb2.Any:
    wrapper = any_pb2.Any()
    wrapper.Pack(message)
    return wrapper


# The egress listener's own port names the route config for apps that call it directly.
EGRESS_DIRECT_PORT = 15001
