"""Defaults of `meshplane ads` and `meshplane agent`, importable without gRPC or protobuf.

`AdsOptions` and the command line both take them from here, so `--help` shows what the
server runs with.  The server's bounds are in `limits_defaults`.
"""

ADS_HOST = "0.0.0.0"
ADS_PORT = 18000
QUEUE_PREFIX = "meshplane-ads"  # of each replica's own SQS queue; the stack passes <stack>-ads
RESYNC_SECONDS = 300.0  # the safety resync of cached nodes' pointers, should an event be lost
GRACE_SECONDS = 5.0  # on SIGTERM, how long open streams may drain
POLL_WAIT_SECONDS = 5  # SQS long poll
CACHE_NODES = 1000  # prepared snapshots kept for nodes without a stream
CACHE_MIB = 256  # and their estimated size at most

AGENT_INTERVAL_SECONDS = 2.0  # how often the file agent polls its pointer
AGENT_DRAIN_SECONDS = 2.0  # how long it keeps clusters a new version drops

COMPAT_SIGNING_NAME = "appmesh"  # the App Mesh image's default when APPMESH_SIGNING_NAME is not set
COMPAT_MAX_SKEW_SECONDS = 300.0  # what AWS itself allows between x-amz-date and its clock
