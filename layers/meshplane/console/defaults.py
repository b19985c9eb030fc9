"""`meshplane console` defaults, importable without botocore or the API so that `--help` stays cheap."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9091
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0
# Where `meshplane local up` keeps its state by default (its `--state-dir`), and the file it writes while running.
LOCAL_STATE_DIR = ".meshplane/local"
LOCAL_STATE_FILE = "state.json"
