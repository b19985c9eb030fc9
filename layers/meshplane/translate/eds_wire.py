"""A ClusterLoadAssignment written as bytes: EDS holds one per backend, each with every instance of it.

The assignment is a handful of nested messages per endpoint (LbEndpoint > Endpoint > Address >
SocketAddress), which cost more to build field by field through the protobuf runtime than to write.
Deterministic serialisation writes fields in field-number order, each behind its tag and, for
messages and strings, its length, a sub-message exactly as it serialises on its own; what is written
here is byte for byte what protobuf writes for the same message (`tests/translate/test_eds_wire.py`).
"""

from __future__ import annotations

from collections.abc import Iterable

from meshplane.snapshot.packing import delimited, varint

# Tags (field number << 3 | wire type) of the fields written here.
_CLUSTER_NAME = b"\x0a"  # ClusterLoadAssignment.cluster_name = 1
_LOCALITY_ENDPOINTS = b"\x12"  # ClusterLoadAssignment.endpoints = 2
_LOCALITY = b"\x0a"  # LocalityLbEndpoints.locality = 1
_ZONE = b"\x12"  # Locality.zone = 2
_LB_ENDPOINT = b"\x12"  # LocalityLbEndpoints.lb_endpoints = 2
_ENDPOINT = b"\x0a"  # LbEndpoint.endpoint = 1
_ADDRESS = b"\x0a"  # Endpoint.address = 1; Address.socket_address = 1
_HEALTH_CHECK_CONFIG = b"\x12"  # Endpoint.health_check_config = 2
_PORT = b"\x08"  # HealthCheckConfig.port_value = 1 (varint)
_SOCKET_ADDRESS = b"\x12"  # SocketAddress.address = 2
_SOCKET_PORT = b"\x18"  # SocketAddress.port_value = 3 (varint)
# LbEndpoint.health_status = 2 (varint): HEALTHY = 1, UNHEALTHY = 2
_HEALTH = {True: b"\x10\x01", False: b"\x10\x02"}

# An instance's `lb_endpoints` field when every length in it is one byte: the field's own length,
# the endpoint's, the address's, the socket address's, the IP's, the IP, the port's varint, the health.
_SHORT_FORM = (_LB_ENDPOINT + b"%c" + _ENDPOINT + b"%c" + _ADDRESS + b"%c" + _ADDRESS + b"%c"
               + _SOCKET_ADDRESS + b"%c%s" + _SOCKET_PORT + b"%s%s")
_SHORT = 0x80 - 14  # an address shorter than this keeps the outermost length (its own + 14 at most) in one byte

# One endpoint: (zone or "", address, port, healthy, the health check port or None)
Instance = tuple[str, str, int, bool, int | None]


def assignment(cluster: str, instances: Iterable[Instance]) -> bytes:
    """The assignment of `cluster`: one locality per run of `instances` in one zone, in their order."""
    parts = [delimited(_CLUSTER_NAME, cluster.encode())] if cluster else []
    zone: str | None = None
    run: list[bytes] = []
    for where, address, port, healthy, health_check_port in instances:
        if where != zone:
            if zone is not None:
                parts.append(_locality(zone, run))
            zone, run = where, []
        raw = address.encode()
        if health_check_port is None and 0 < len(raw) < _SHORT:
            # The usual instance: every length in it fits one varint byte, so one format writes it.
            number = varint(port)
            size = 3 + len(raw) + len(number)  # the socket address's
            run.append(_SHORT_FORM % (size + 8, size + 4, size + 2, size, len(raw), raw, number, _HEALTH[healthy]))
        else:
            run.append(_lb_endpoint(raw, port, healthy, health_check_port))
    if zone is not None:
        parts.append(_locality(zone, run))
    return b"".join(parts)


def on_port(cluster: str, port: int, instances: Iterable[tuple[str | None, str, bool]]) -> bytes:
    """`assignment` of instances that all take `port` and have no health check port of their own:
    (zone or None, address, healthy) each, grouped by zone as `assignment` does."""
    number = varint(port)
    tails = (_SOCKET_PORT + number + _HEALTH[False], _SOCKET_PORT + number + _HEALTH[True])
    heads = _SHORT_HEADS[len(number)]
    parts = [delimited(_CLUSTER_NAME, cluster.encode())] if cluster else []
    zone: str | None = None
    run: list[bytes] = []
    for where, address, healthy in instances:
        if where is None:
            where = ""
        if where != zone:
            if zone is not None:
                parts.append(_locality(zone, run))
            zone, run = where, []
        raw = address.encode()
        if 0 < len(raw) < _SHORT:
            run.append(heads[len(raw)] + raw + tails[healthy])
        else:
            run.append(_lb_endpoint(raw, port, healthy, None))
    if zone is not None:
        parts.append(_locality(zone, run))
    return b"".join(parts)


def _short_head(length: int, port_length: int) -> bytes:
    """What `_SHORT_FORM` writes before an IP of `length` bytes, for a port of `port_length` varint bytes."""
    size = 3 + length + port_length  # the socket address's
    return (_LB_ENDPOINT + bytes((size + 8,)) + _ENDPOINT + bytes((size + 4,)) + _ADDRESS + bytes((size + 2,))
            + _ADDRESS + bytes((size,)) + _SOCKET_ADDRESS + bytes((length,)))


# `_short_head` of every IP length that keeps to the short form (0 unused), by the port's varint length
# (1 to 3 bytes: ports reach 65535): indexed, not called, once per instance.
_SHORT_HEADS = {port_length: tuple(_short_head(length, port_length) for length in range(_SHORT))
                for port_length in (1, 2, 3)}  # fmt: skip


def _lb_endpoint(address: bytes, port: int, healthy: bool, health_check_port: int | None) -> bytes:
    """The `lb_endpoints` field of any instance."""
    # The port is one of a oneof: written even when 0.
    sock = (delimited(_SOCKET_ADDRESS, address) if address else b"") + _SOCKET_PORT + varint(port)
    endpoint = delimited(_ADDRESS, delimited(_ADDRESS, sock))
    if health_check_port is not None:
        endpoint += delimited(_HEALTH_CHECK_CONFIG, _PORT + varint(health_check_port) if health_check_port else b"")
    return delimited(_LB_ENDPOINT, delimited(_ENDPOINT, endpoint) + _HEALTH[healthy])


def _locality(zone: str, run: list[bytes]) -> bytes:
    """A zone's `endpoints` field."""
    locality = delimited(_LOCALITY, delimited(_ZONE, zone.encode())) if zone else b""
    return delimited(_LOCALITY_ENDPOINTS, b"".join([locality, *run]))
