"""The bootstrap's stats: App Mesh's tags, the flush interval and the DogStatsD sink.

The tags parse the stat names the translator emits (`translate/observability.py` keeps both);
the sink goes to the CloudWatch agent or a Datadog agent over UDP, or over a Unix datagram socket.
"""

from __future__ import annotations

from envoy.config.bootstrap.v3.bootstrap_pb2 import Bootstrap
from envoy.config.core.v3.address_pb2 import SocketAddress
from envoy.config.metrics.v3.stats_pb2 import DogStatsdSink, StatsSink

from meshplane.bootstrap.options import BootstrapOptions
from meshplane.model.ids import ProxyId
from meshplane.translate import observability


def _dogstatsd(options: BootstrapOptions) -> StatsSink:
    sink = DogStatsdSink()
    if options.statsd_socket:
        sink.address.pipe.path = options.statsd_socket
    else:
        sink.address.socket_address.CopyFrom(
            SocketAddress(protocol=SocketAddress.UDP, address=options.statsd_address, port_value=options.statsd_port)
        )
    out = StatsSink(name="envoy.stat_sinks.dog_statsd")
    out.typed_config.Pack(sink)
    return out


def apply(boot: Bootstrap, options: BootstrapOptions, proxy: ProxyId) -> None:
    """Tags (unless ENVOY_STATS_CONFIG_FILE replaces them), flush interval, DogStatsD sink when asked for."""
    if not options.stats_config_file:
        boot.stats_config.CopyFrom(observability.stats_config(proxy, fixed_tags=options.stats_tags))
    if options.stats_flush_interval is not None:
        boot.stats_flush_interval.FromNanoseconds(round(options.stats_flush_interval * 1e9))
    if options.dogstatsd:
        boot.stats_sinks.append(_dogstatsd(options))
