"""`meshplane console` defaults, importable without botocore or the API so that `--help` stays cheap."""

# The console relays through the api-proxy's forwarder, with its timeouts.
from meshplane.apiproxy.defaults import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS

__all__ = ["CONNECT_TIMEOUT_SECONDS", "DEFAULT_HOST", "DEFAULT_PORT", "LOCAL_STATE_DIR", "LOCAL_STATE_FILE",
           "READ_TIMEOUT_SECONDS"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9091
# Where `meshplane local up` keeps its state by default (its `--state-dir`), and the file it writes while running.
LOCAL_STATE_DIR = ".meshplane/local"
LOCAL_STATE_FILE = "state.json"
