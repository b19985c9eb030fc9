"""The environment variables meshplane reads, each named here once.

Every product reads them in one place: the Lambda functions through `meshplane.config.Settings`,
each `meshplane` command through the flags that fall back to them (`meshplane.cliargs.env_option`),
which is also how they show in `--help`.  The App Mesh image's own variables, which
`meshplane bootstrap` honours as App Mesh did, are App Mesh's contract and are read by
`meshplane.bootstrap.options`.
"""

from __future__ import annotations

# boto3's own region variables, in the order the Lambda runtime and the AWS CLI prefer them.
REGION = ("AWS_REGION", "AWS_DEFAULT_REGION")

# The stack's resources (Lambda functions, ADS server, agents).
TABLE = "MESHPLANE_TABLE"
BUCKET = "MESHPLANE_BUCKET"
BUS = "MESHPLANE_BUS"
ACCOUNT_ID = "MESHPLANE_ACCOUNT_ID"
PARTITION = "MESHPLANE_PARTITION"

# Lambda functions only.
API_AUTHZ = "MESHPLANE_API_AUTHZ"
AWS_MAX_ATTEMPTS = "MESHPLANE_AWS_MAX_ATTEMPTS"
RECONCILE_SWEEP_SECONDS = "MESHPLANE_RECONCILE_SWEEP_SECONDS"  # the reconcile's full sweep, at least this often
ECS_CLUSTERS = "MESHPLANE_ECS_CLUSTERS"
PROVIDER_ARN = "MESHPLANE_PROVIDER_ARN"
LIMIT_PREFIX = "MESHPLANE_LIMIT_"  # + a `store.limits.Limits` field in upper case
SHARD_QUEUE_URL = "MESHPLANE_SHARD_QUEUE_URL"  # recompute: where hot changes go as shards (pipeline.shards)
SHARD_THRESHOLD = "MESHPLANE_SHARD_THRESHOLD"
SHARD_SIZE = "MESHPLANE_SHARD_SIZE"

# The rollout controller (functions/rollout) and `meshplane stats-collector`.
ROLLOUT_METRICS_NAMESPACE = "MESHPLANE_ROLLOUT_METRICS_NAMESPACE"  # where Envoy's cluster metrics are in CloudWatch
ROLLOUT_TICK_SECONDS = "MESHPLANE_ROLLOUT_TICK_SECONDS"  # between two looks at the active rollouts
ROLLOUT_RUN_SECONDS = "MESHPLANE_ROLLOUT_RUN_SECONDS"  # how long one invocation keeps looking (its schedule's period)

# The ADS server.
CONFIG_TOPIC_ARN = "MESHPLANE_CONFIG_TOPIC_ARN"
ADS_QUEUE_PREFIX = "MESHPLANE_ADS_QUEUE_PREFIX"
CA_SECRET_ARN = "MESHPLANE_CA_SECRET_ARN"

# A proxy's side: `meshplane bootstrap` and `meshplane identity`.
ADS_ADDRESS = "MESHPLANE_ADS_ADDRESS"
ADS_SERVER_NAME = "MESHPLANE_ADS_SERVER_NAME"
IDENTITY_ADDRESS = "MESHPLANE_IDENTITY_ADDRESS"
IDENTITY_DIR = "MESHPLANE_IDENTITY_DIR"
ENVOY_IMAGE = "MESHPLANE_ENVOY_IMAGE"

# Client tools: `meshplane import` and `meshplane api-proxy`.
API_URL = "MESHPLANE_API_URL"

# Developer tools: `meshplane local up`.
ENDPOINT_URL = "AWS_ENDPOINT_URL"  # boto3's own: an emulator already running, used instead of starting moto
LOCAL_PROFILE_DIR = "MESHPLANE_LOCAL_PROFILE_DIR"
