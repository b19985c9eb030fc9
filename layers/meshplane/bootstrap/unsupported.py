"""The App Mesh image's variables that ask for something meshplane's sidecar cannot do.

Each is refused at bootstrap with one line saying why, rather than dropped: a task definition
that relied on it then fails where its owner looks first, not later in production. A variable set
to the value that matches what meshplane's Envoy does anyway (e.g. `APPMESH_PREVIEW=0`) is fine.
"""

from __future__ import annotations

from collections.abc import Callable

from meshplane.bootstrap.environment import Environment

_ADS_ADDRESS = "the ADS address is --ads-address, MESHPLANE_ADS_ADDRESS or APPMESH_XDS_ENDPOINT"
_RELAY = "is the App Mesh image's relay mode; meshplane's Envoy holds its own ADS connection"

# (variable, does its value ask for the unsupported thing, why it cannot be honoured)
_REFUSED: tuple[tuple[str, Callable[[Environment], bool], str], ...] = (
    ("APPMESH_PREVIEW", lambda e: e.flag("APPMESH_PREVIEW"),
     f"selects App Mesh's preview endpoint, which meshplane does not have; {_ADS_ADDRESS}"),
    ("APPMESH_DUALSTACK_ENDPOINT", lambda e: e.flag("APPMESH_DUALSTACK_ENDPOINT"),
     f"selects App Mesh's dual-stack AWS endpoint; {_ADS_ADDRESS}"),
    ("APPMESH_SIGNING_NAME", lambda e: e.is_set("APPMESH_SIGNING_NAME"),
     "names the SigV4 service of App Mesh's IAM call credentials; meshplane bootstrap authenticates to "
     "its ADS with a node certificate (MESHPLANE_IDENTITY_DIR), so unset it"),
    ("APPNET_RELAY_LISTENER_UDS_PATH", lambda e: e.is_set("APPNET_RELAY_LISTENER_UDS_PATH"), _RELAY),
    ("APPNET_ENABLE_RELAY_MODE_FOR_XDS", lambda e: e.flag("APPNET_ENABLE_RELAY_MODE_FOR_XDS"), _RELAY),
    ("APPMESH_METRIC_EXTENSION_VERSION",
     lambda e: e.choice("APPMESH_METRIC_EXTENSION_VERSION", ("0", "1"), "0") == "1",
     "asks for App Mesh's metric extension, a filter only the App Mesh Envoy build has; set 0 or unset it "
     "(the appmesh.* stats tags work without it)"),
    ("APPMESH_SET_TRACING_DECISION", lambda e: not e.flag("APPMESH_SET_TRACING_DECISION", True),
     "false needs App Mesh's patched Envoy; upstream Envoy always records its tracing decision in x-request-id"),
    ("ENVOY_NO_EXTENSION_LOOKUP_BY_NAME", lambda e: not e.flag("ENVOY_NO_EXTENSION_LOOKUP_BY_NAME", True),
     "false is gone from Envoy 1.40, which always finds extensions by their type URL"),
    ("ENVOY_USE_HTTP_CLIENT_TO_FETCH_AWS_CREDENTIALS",
     lambda e: e.is_set("ENVOY_USE_HTTP_CLIENT_TO_FETCH_AWS_CREDENTIALS"),
     "has nothing to act on: meshplane's Envoy fetches no AWS credentials (its ADS connection uses a node "
     "certificate), so unset it"),
    ("ENVOY_ADMIN_MODE", lambda e: e.choice("ENVOY_ADMIN_MODE", ("tcp", "uds"), "tcp") == "uds",
     "uds is the App Mesh agent's admin socket, which meshplane does not run; the admin listens on TCP "
     "(ENVOY_ADMIN_ACCESS_PORT, ENVOY_ADMIN_ACCESS_BIND)"),
)  # fmt: skip


def refuse_unsupported(env: Environment) -> None:
    """ValueError naming the first variable whose value meshplane cannot honour."""
    for name, asks, why in _REFUSED:
        if asks(env):
            raise env.fail(name, why)


REFUSED_VARIABLES: tuple[str, ...] = tuple(name for name, _, _ in _REFUSED)
