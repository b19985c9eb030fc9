"""The X-Ray SDK's sampling client, built when it is first used rather than at import.

Importing `aws_xray_sdk.core` builds its recorder, and the recorder's centralized-
sampling connector creates an X-Ray botocore client straight away, twice: about
100 ms of a Lambda cold start (68 + 34 ms measured with boto3 already imported).
A Lambda function never calls that client: the sampling decision arrives with the
trace header and the segment is Lambda's own.  So while the SDK is first imported,
`create_client("xray")` hands out a proxy that builds the real client on first use;
a process that does sample centrally (a daemon-side recorder) gets the same client,
just later.  Every other client is created as usual.
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


@contextlib.contextmanager
def xray_clients_on_first_use() -> Iterator[None]:
    """While the X-Ray SDK is first imported inside this block, defer the X-Ray clients it creates."""
    if "aws_xray_sdk.core" in sys.modules:
        yield  # already imported: its clients exist, nothing left to defer
        return
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name != "xray":
            return original(self, service_name, *args, **kwargs)
        return ClientOnFirstUse(lambda: original(self, service_name, *args, **kwargs))

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]
