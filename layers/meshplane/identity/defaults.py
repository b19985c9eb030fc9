"""Defaults the command lines show, kept free of imports so that registering a subcommand stays cheap."""

DECISION_TTL_S = 60.0  # how long an IAM decision is reused
MAX_CONNECTIONS = 64  # open connections to the exchange endpoint at most
CA_OBJECT_KEY = "identity/ca.pem"  # the published node CA certificate, in the snapshot bucket
DEFAULT_IDENTITY_DIR = "/etc/meshplane/identity"  # where `meshplane identity` writes and Envoy reads
RETRY_MAX_S = 60.0  # the identity agent's longest wait between failed attempts
NODE_CERT_MINUTES = 60.0  # lifetime of the node certificates the ADS server issues
