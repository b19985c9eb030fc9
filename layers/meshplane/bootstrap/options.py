"""What a bootstrap depends on, and how App Mesh's environment variables map onto it.

The mapping is done once, by the entry point (`from_env`); the builder takes plain options.
Every variable of the App Mesh image either maps onto a field here or is refused
(`unsupported.py`); envoy_bootstrap/README.md keeps the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal, TypeVar

from meshplane import envvars
from meshplane.bootstrap.environment import Environment, is_ip, split_host_port
from meshplane.bootstrap.unsupported import refuse_unsupported
from meshplane.delivery.defaults import ADS_PORT

__all__ = ["PLATFORMS", "BootstrapOptions", "is_ip", "split_address"]

Mode = Literal["ads", "file"]
Platform = Literal["fargate", "ecs-ec2", "ec2"]
PLATFORMS: tuple[str, ...] = ("fargate", "ecs-ec2", "ec2")

DEFAULT_ADMIN_PORT = 9901
DEFAULT_ADMIN_BIND = "127.0.0.1"
DEFAULT_ADMIN_ACCESS_LOG = "/tmp/envoy_admin_access.log"
DEFAULT_ADS_ADDRESS = f"127.0.0.1:{ADS_PORT}"
DEFAULT_FILE_DIR = "/etc/envoy/xds"
DEFAULT_OUTLIER_EVENT_LOG = "/dev/stdout"
XRAY_DEFAULT_ADDRESS = "127.0.0.1"
XRAY_DEFAULT_PORT = 2000
XRAY_DEFAULT_RATE = 0.05
DATADOG_DEFAULT_ADDRESS = "127.0.0.1"
DATADOG_DEFAULT_PORT = 8126
JAEGER_DEFAULT_ADDRESS = "127.0.0.1"
JAEGER_DEFAULT_PORT = 9411
STATSD_DEFAULT_ADDRESS = "127.0.0.1"
STATSD_DEFAULT_PORT = 8125
# Envoy's bounds on stats_flush_interval.
STATS_FLUSH_MIN_S = 0.001
STATS_FLUSH_MAX_S = 300.0
ENVOY_LOG_LEVELS = ("trace", "debug", "info", "warning", "warn", "error", "critical", "off")
UINT32_MAX = 2**32 - 1
T = TypeVar("T")

# The App Mesh image's variables that a `meshplane bootstrap` flag also sets (the flag wins); each list in
# the order the image preferred them.
NODE_ID_VARIABLES = ("APPMESH_RESOURCE_ARN", "APPMESH_RESOURCE_NAME", "APPMESH_VIRTUAL_NODE_NAME")
CLUSTER_VARIABLES = ("APPMESH_RESOURCE_CLUSTER", "APPMESH_VIRTUAL_NODE_CLUSTER")
XDS_ENDPOINT_VAR = "APPMESH_XDS_ENDPOINT"  # the App Mesh image's name for the management server
ADS_ADDRESS_VARIABLES = (envvars.ADS_ADDRESS, XDS_ENDPOINT_VAR)
SDS_SOCKET_VAR = "APPMESH_SDS_SOCKET_PATH"
ADMIN_PORT_VAR = "ENVOY_ADMIN_ACCESS_PORT"
INITIAL_FETCH_TIMEOUT_VAR = "ENVOY_INITIAL_FETCH_TIMEOUT"
AVAILABILITY_ZONE_VAR = "AWS_AVAILABILITY_ZONE"
ZONE_VAR = "MESHPLANE_ZONE"  # meshplane's own name for the zone; wins over AWS_AVAILABILITY_ZONE
XRAY_VAR = "ENABLE_ENVOY_XRAY_TRACING"
XRAY_PORT_VAR = "XRAY_DAEMON_PORT"
XRAY_SAMPLING_RATE_VAR = "XRAY_SAMPLING_RATE"
DOGSTATSD_VAR = "ENABLE_ENVOY_DOG_STATSD"
STATSD_ADDRESS_VAR = "STATSD_ADDRESS"
STATSD_PORT_VAR = "STATSD_PORT"
STATS_TAGS_VAR = "ENABLE_ENVOY_STATS_TAGS"
TRACERS = (XRAY_VAR, "ENABLE_ENVOY_DATADOG_TRACING", "ENABLE_ENVOY_JAEGER_TRACING")


def split_address(address: str) -> tuple[str, int]:
    """`host:port` (IPv6 hosts in brackets) as (host, port); ValueError otherwise."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class BootstrapOptions:
    node_id: str
    cluster: str | None = None
    mode: Mode = "ads"
    platform: Platform = "ec2"
    ads_address: str = DEFAULT_ADS_ADDRESS
    ads_delta: bool = False
    ads_tls_ca: str | None = None
    ads_tls_cert: str | None = None
    ads_tls_key: str | None = None
    ads_identity_dir: str | None = None  # `meshplane identity` writes the client certificate and CA here (SDS files)
    ads_server_name: str | None = None  # SNI and the name the server certificate must carry (default: the ADS host)
    file_dir: str = DEFAULT_FILE_DIR
    admin_port: int = DEFAULT_ADMIN_PORT
    admin_bind: str | None = None  # default: the bind address, else 127.0.0.1 (::1 with admin_ipv6)
    admin_ipv6: bool = False
    admin_access_log: str = DEFAULT_ADMIN_ACCESS_LOG
    bind_address: str | None = None
    sds_socket: str | None = None  # the local SDS provider (SPIRE agent) for `sds` certificates
    initial_fetch_timeout: float | None = None
    tracing_file: str | None = None  # a file whose `tracing` replaces the built-in tracers
    xray: bool = False
    xray_address: str = XRAY_DEFAULT_ADDRESS
    xray_port: int = XRAY_DEFAULT_PORT
    xray_segment_name: str | None = None  # default `<mesh>/<resource>`
    xray_sampling_rate: float = XRAY_DEFAULT_RATE
    xray_sampling_manifest: str | None = None  # an X-Ray sampling rule manifest (version 2) file
    datadog: bool = False
    datadog_address: str = DATADOG_DEFAULT_ADDRESS
    datadog_port: int = DATADOG_DEFAULT_PORT
    datadog_service: str | None = None  # default `envoy-<mesh>/<resource>`
    jaeger: bool = False
    jaeger_address: str = JAEGER_DEFAULT_ADDRESS
    jaeger_port: int = JAEGER_DEFAULT_PORT
    jaeger_json: bool = False  # Zipkin v2 JSON instead of protobuf
    stats_tags: bool = False
    stats_config_file: str | None = None  # a file whose `stats_config` replaces the built-in tags
    stats_flush_interval: float | None = None  # seconds; Envoy's default 5 s
    dogstatsd: bool = False
    statsd_address: str = STATSD_DEFAULT_ADDRESS
    statsd_port: int = STATSD_DEFAULT_PORT
    statsd_socket: str | None = None  # a Unix datagram socket instead of UDP
    stats_sinks_file: str | None = None  # a file whose `stats_sinks` replace the DogStatsD sink
    outlier_event_log: str = DEFAULT_OUTLIER_EVENT_LOG
    max_requests_per_io_cycle: int | None = None
    region: str | None = None
    availability_zone: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def with_overrides(self, **changes: Any) -> BootstrapOptions:
        """Apply only the changes that were actually given (flags left unset stay as the env said)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def tracers(self) -> tuple[str, ...]:
        """The built-in tracers asked for (at most one may be)."""
        return tuple(name for name, on in (("xray", self.xray), ("datadog", self.datadog), ("jaeger", self.jaeger))
                     if on)  # fmt: skip

    def check(self) -> None:
        """Combinations that would make one setting silently win over another; ValueError naming both."""
        if len(self.tracers) > 1:
            raise ValueError(f"only one tracer can be enabled; enable one of {', '.join(TRACERS)}")
        if self.tracing_file and self.tracers:
            raise ValueError(f"ENVOY_TRACING_CFG_FILE replaces the tracing section; it cannot be combined with "
                             f"the {self.tracers[0]} tracer")  # fmt: skip
        if self.stats_config_file and self.stats_tags:
            raise ValueError("ENVOY_STATS_CONFIG_FILE replaces the stats config, tags included; it cannot be "
                             f"combined with {STATS_TAGS_VAR}")  # fmt: skip
        if self.stats_sinks_file and self.dogstatsd:
            raise ValueError("ENVOY_STATS_SINKS_CFG_FILE replaces the stats sinks; it cannot be combined with "
                             f"{DOGSTATSD_VAR}")  # fmt: skip

    @classmethod
    def from_env(cls, env: Mapping[str, str], node_id: str | None = None) -> BootstrapOptions:
        """The App Mesh sidecar variables, so existing task definitions keep working."""
        read = Environment(env)
        refuse_unsupported(read)
        resolved = node_id or next((value for name in NODE_ID_VARIABLES if (value := read.text(name))), None)
        if not resolved:
            raise ValueError(f"no node id: pass --node-id or set {' / '.join(NODE_ID_VARIABLES)}")
        _command_line(read)
        metadata = {key: value for key, name in (("ecsTaskArn", "ECS_TASK_ARN"), ("ecsClusterArn", "ECS_CLUSTER_ARN"))
                    if (value := read.text(name))}  # fmt: skip
        options = cls(
            node_id=resolved,
            cluster=next((value for name in CLUSTER_VARIABLES if (value := read.text(name))), None),
            ads_address=_ads_address(read),
            sds_socket=read.text(SDS_SOCKET_VAR),
            ads_identity_dir=read.text(envvars.IDENTITY_DIR),
            ads_server_name=read.text(envvars.ADS_SERVER_NAME),
            initial_fetch_timeout=read.seconds(INITIAL_FETCH_TIMEOUT_VAR),
            outlier_event_log=read.text_or("ENVOY_OUTLIER_DETECTION_EVENT_LOG_PATH", DEFAULT_OUTLIER_EVENT_LOG),
            max_requests_per_io_cycle=_max_requests_per_io_cycle(read),
            region=next((value for name in envvars.REGION if (value := read.text(name))), None),
            availability_zone=read.text(ZONE_VAR) or read.text(AVAILABILITY_ZONE_VAR),
            metadata=metadata,
            **_admin(read),
            **_tracing(read),
            **_stats(read),
        )
        options.check()
        return options


def _ads_address(read: Environment) -> str:
    """MESHPLANE_ADS_ADDRESS, or APPMESH_XDS_ENDPOINT as the App Mesh image named its management server."""
    ours, theirs = read.text(envvars.ADS_ADDRESS), read.text(XDS_ENDPOINT_VAR)
    if ours and theirs and ours != theirs:
        raise read.fail(XDS_ENDPOINT_VAR, f"differs from {envvars.ADS_ADDRESS}={ours!r}; set one of them")
    address = ours or theirs or DEFAULT_ADS_ADDRESS
    name = envvars.ADS_ADDRESS if ours else XDS_ENDPOINT_VAR
    try:
        split_address(address)
    except ValueError:
        raise read.fail(name, "must be host:port") from None
    return address


def _command_line(read: Environment) -> None:
    """ENVOY_LOG_LEVEL and ENVOY_CONCURRENCY go onto Envoy's command line (the sidecar entrypoint puts them
    there); checked here so that a bad value stops the sidecar with a clear line instead of Envoy's usage text."""
    read.choice("ENVOY_LOG_LEVEL", ENVOY_LOG_LEVELS)
    read.integer("ENVOY_CONCURRENCY", None, low=1, high=UINT32_MAX)


def _max_requests_per_io_cycle(read: Environment) -> int | None:
    """As in the App Mesh image, 0 or less means no limit (Envoy's default)."""
    value = read.integer("MAX_REQUESTS_PER_IO_CYCLE", None, low=-(2**31), high=UINT32_MAX)
    return value if value is not None and value > 0 else None


def _admin(read: Environment) -> dict[str, Any]:
    bind = read.text("ENVOY_ADMIN_ACCESS_BIND")
    if bind is not None and not is_ip(bind):
        raise read.fail("ENVOY_ADMIN_ACCESS_BIND", "must be an IP address, e.g. 0.0.0.0 for App Mesh's behaviour")
    return {
        "admin_port": read.port(ADMIN_PORT_VAR, DEFAULT_ADMIN_PORT, allow_zero=True),
        "admin_bind": bind,
        "admin_ipv6": read.flag("ENVOY_ADMIN_ACCESS_ENABLE_IPV6"),
        "admin_access_log": read.text_or("ENVOY_ADMIN_ACCESS_LOG_FILE", DEFAULT_ADMIN_ACCESS_LOG),
    }


def _xray_daemon(read: Environment, default: tuple[str, int]) -> tuple[str, int]:
    """AWS_XRAY_DAEMON_ADDRESS (an IP, with or without a port) wins over 127.0.0.1:XRAY_DAEMON_PORT."""
    port = read.port(XRAY_PORT_VAR, default[1])
    value = read.text("AWS_XRAY_DAEMON_ADDRESS")
    if value is None:
        return default[0], port
    why = "must be an IP address, optionally with :port (Envoy's X-Ray tracer takes no host names)"
    try:
        host, given = split_host_port(value)
    except ValueError:
        raise read.fail("AWS_XRAY_DAEMON_ADDRESS", why) from None
    if not is_ip(host):
        raise read.fail("AWS_XRAY_DAEMON_ADDRESS", why)
    return host, given or port


def _feature(on: bool, parse: Callable[[T], T], default: T) -> T:
    """A feature's own variable, e.g. XRAY_DAEMON_PORT: refused when malformed if its feature is on; with the
    feature off it can change nothing, so (as in the App Mesh image) a malformed value stops no sidecar."""
    try:
        return parse(default)
    except ValueError:
        if on:
            raise
        return default


def _xray(read: Environment) -> dict[str, Any]:
    on = read.flag(XRAY_VAR)
    address, port = _feature(on, partial(_xray_daemon, read), (XRAY_DEFAULT_ADDRESS, XRAY_DEFAULT_PORT))
    manifest = read.text("XRAY_SAMPLING_RULE_MANIFEST")
    if on and manifest and read.is_set(XRAY_SAMPLING_RATE_VAR):
        raise read.fail(XRAY_SAMPLING_RATE_VAR, "cannot be combined with XRAY_SAMPLING_RULE_MANIFEST, which holds "
                        "the rate; set one of them")  # fmt: skip
    return {
        "xray": on,
        "xray_address": address,
        "xray_port": port,
        "xray_segment_name": read.text("XRAY_SEGMENT_NAME"),
        "xray_sampling_rate": _feature(on, partial(read.fraction, XRAY_SAMPLING_RATE_VAR), XRAY_DEFAULT_RATE),
        "xray_sampling_manifest": manifest,
    }


def _tracing(read: Environment) -> dict[str, Any]:
    datadog, jaeger = read.flag("ENABLE_ENVOY_DATADOG_TRACING"), read.flag("ENABLE_ENVOY_JAEGER_TRACING")
    return {
        **_xray(read),
        "tracing_file": read.text("ENVOY_TRACING_CFG_FILE"),
        "datadog": datadog,
        "datadog_address": read.text_or("DATADOG_TRACER_ADDRESS", DATADOG_DEFAULT_ADDRESS),
        "datadog_port": _feature(datadog, partial(read.port, "DATADOG_TRACER_PORT"), DATADOG_DEFAULT_PORT),
        "datadog_service": read.text("DD_SERVICE"),
        "jaeger": jaeger,
        "jaeger_address": read.text_or("JAEGER_TRACER_ADDRESS", JAEGER_DEFAULT_ADDRESS),
        "jaeger_port": _feature(jaeger, partial(read.port, "JAEGER_TRACER_PORT"), JAEGER_DEFAULT_PORT),
        "jaeger_json": "json" in (read.text("JAEGER_TRACER_VERSION") or "").lower(),
    }


def _statsd_address(read: Environment, default: str) -> str:
    address = read.text_or(STATSD_ADDRESS_VAR, default)
    if not is_ip(address):
        raise read.fail(STATSD_ADDRESS_VAR, "must be an IP address (Envoy's DogStatsD sink resolves no names)")
    return address


def _stats(read: Environment) -> dict[str, Any]:
    flush = read.duration("ENVOY_STATS_FLUSH_INTERVAL", low=STATS_FLUSH_MIN_S, high=STATS_FLUSH_MAX_S)
    dogstatsd = read.flag(DOGSTATSD_VAR)
    return {
        "stats_tags": read.flag(STATS_TAGS_VAR),
        "stats_config_file": read.text("ENVOY_STATS_CONFIG_FILE"),
        "stats_flush_interval": flush,
        "dogstatsd": dogstatsd,
        "statsd_address": _feature(dogstatsd, partial(_statsd_address, read), STATSD_DEFAULT_ADDRESS),
        "statsd_port": _feature(dogstatsd, partial(read.port, STATSD_PORT_VAR), STATSD_DEFAULT_PORT),
        "statsd_socket": read.text("STATSD_SOCKET_PATH"),
        "stats_sinks_file": read.text("ENVOY_STATS_SINKS_CFG_FILE"),
    }
