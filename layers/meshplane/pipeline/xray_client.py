"""The X-Ray SDK's sampling client, built when it is first used rather than at import.

Importing `aws_xray_sdk.core` builds its recorder, and the recorder's centralized-
sampling connector creates an X-Ray botocore client straight away, twice, each in a
botocore session of its own: about 100 ms of a Lambda cold start for the clients
(68 + 34 ms measured with boto3 already imported) and 10 ms for each session.
A Lambda function never calls that client: the sampling decision arrives with the
trace header and the segment is Lambda's own.  So while the SDK is first imported,
`create_client("xray")` hands out a proxy that builds the real client on first use,
and `botocore.session.get_session()` a session made on its first use other than
creating an X-Ray client; a process that does sample centrally (a daemon-side
recorder) gets the same client, just later.  Every other client and session is
created as usual.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any


class ClientOnFirstUse:
    """Stands in for a botocore client; the first attribute read builds the real one."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build: Callable[[], Any] | None = build
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._client is not None

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._client is None:
                assert self._build is not None
                self._client, self._build = self._build(), None
        return getattr(self._client, name)


class SessionOnFirstUse:
    """Stands in for a botocore session: made when first used for anything but creating an X-Ray client."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._session = ClientOnFirstUse(make)  # any object made on first use, here a session

    @property
    def made(self) -> bool:
        return self._session.built

    def create_client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name != "xray":
            return self._session.create_client(service_name, *args, **kwargs)
        return ClientOnFirstUse(lambda: self._session.create_client(service_name, *args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


@contextlib.contextmanager
def xray_clients_on_first_use() -> Iterator[None]:
    """While the X-Ray SDK is first imported inside this block, defer its X-Ray clients and their sessions."""
    if "aws_xray_sdk.core" in sys.modules:
        yield  # already imported: its clients exist, nothing left to defer
        return
    import botocore.session

    original = botocore.session.Session.create_client
    original_get_session = botocore.session.get_session

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name != "xray":
            return original(self, service_name, *args, **kwargs)
        return ClientOnFirstUse(lambda: original(self, service_name, *args, **kwargs))

    def get_session(env_vars: Any = None) -> Any:
        return SessionOnFirstUse(lambda: original_get_session(env_vars))

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    botocore.session.get_session = get_session
    try:
        yield
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]
        botocore.session.get_session = original_get_session
