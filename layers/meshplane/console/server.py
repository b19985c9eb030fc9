"""The console's HTTP server: the page's files, and the relay of the page's API calls.

It is `meshplane.api.http`'s server (API Gateway's framing, limits and timeouts, refusals
in App Mesh's error shape) with the `Guard` as its authenticator, answering each request
either from the static bundle or by forwarding it with `meshplane.apiproxy`'s `Forwarder`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from botocore.credentials import Credentials

from meshplane.api import responses
from meshplane.api.http import make_server
from meshplane.apiproxy.access import is_loopback
from meshplane.apiproxy.forward import Forwarder
from meshplane.apiproxy.target import Target, parse_target
from meshplane.cliargs import CommandFailed
from meshplane.console import routes
from meshplane.console.defaults import CONNECT_TIMEOUT_SECONDS, DEFAULT_HOST, READ_TIMEOUT_SECONDS
from meshplane.console.guard import Guard, new_token
from meshplane.console.static import StaticFiles
from meshplane.store.errors import MeshplaneError

log = logging.getLogger(__name__)


class ConsoleApp:
    """Duck-types `Api.handle(event)`: a relay path goes upstream once `routes.check` allows it; the rest is a file."""

    def __init__(self, forwarder: Forwarder, files: StaticFiles) -> None:
        self.forwarder, self.files = forwarder, files

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        method, path = str(event.get("httpMethod") or "GET").upper(), str(event.get("path") or "/")
        upstream = routes.relayed_path(path)
        if upstream is None:
            return self.files.answer(method, path)
        try:
            routes.check(method, upstream)
        except MeshplaneError as refused:
            log.info("refused %s %s: %s", method, path, refused.message)
            return responses.error(refused)
        return self.forwarder.forward(method, upstream, {**event, "path": upstream})


@dataclass
class Console:
    """A listening console: `url` carries the page token in its fragment; `close()` stops it."""

    server: ThreadingHTTPServer
    host: str
    port: int
    token: str
    target: Target
    signed: bool

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/#token={self.token}"

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.server.serve_forever, name="meshplane-console", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def open_console(target: Target, credentials: Credentials | None, *, host: str = DEFAULT_HOST, port: int = 0,
                 connect_timeout: float = CONNECT_TIMEOUT_SECONDS, read_timeout: float = READ_TIMEOUT_SECONDS,
                 files: StaticFiles | None = None) -> Console:  # fmt: skip
    """Bind the console on `host:port` (0 picks a free port); serve with `serve_in_thread()` or `serve_forever()`.

    `credentials` None relays unsigned: only for a loopback `meshplane local up` (see `credentials_for`).
    """
    forwarder = Forwarder(target, credentials, connect_timeout=connect_timeout, read_timeout=read_timeout)
    app = ConsoleApp(forwarder, files or StaticFiles())
    token = new_token()
    guard = Guard(token)
    server = make_server(app, host, port, read_timeout=read_timeout, authenticate=guard)
    bound = int(server.server_address[1])
    guard.listening_on(host, bound)
    return Console(server, host, bound, token, target, credentials is not None)


def credentials_for(target: Target, profile: str | None = None) -> Credentials | None:
    """The operator's credentials (botocore's chain); None, to relay unsigned, only toward a loopback API."""
    import boto3

    credentials = boto3.Session(profile_name=profile).get_credentials()
    if credentials is None and not is_loopback(urlsplit(target.origin).hostname or ""):
        raise CommandFailed(f"no AWS credentials in the standard chain (environment, ~/.aws files, SSO, container "
                            f"or instance role): the console signs every call it relays to {target.origin}")
    return credentials


def serve_in_background(api_url: str, region: str) -> Console:
    """A console for `api_url` on a free loopback port, serving from a daemon thread (`meshplane demo --keep`)."""
    target = parse_target(api_url, region)
    console = open_console(target, credentials_for(target))
    console.serve_in_thread()
    return console
