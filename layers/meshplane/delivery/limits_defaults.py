"""The ADS server's default bounds, importable without gRPC or protobuf (the CLI shows them in `--help`)."""

MIB = 1 << 20
MAX_REQUEST_BYTES = 4 * MIB  # gRPC's own default, made explicit and settable
MAX_STREAMS_PER_PEER = 4096  # open streams of one client address
UNKNOWN_TTL_S = 10.0  # a node found unpublished is answered from memory this long
UNKNOWN_MAX = 10_000  # and at most this many such nodes are remembered
IDLE_QUIET_S = 1.0  # an idle node's refresh waits for events to pause this long (`idle`)
IDLE_MOST_S = 30.0  # and at most this long after its event
