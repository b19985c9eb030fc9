"""`meshplane api-proxy` defaults, importable without botocore or the API so that `--help` stays cheap."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9090
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0
