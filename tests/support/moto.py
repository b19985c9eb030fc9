"""moto's server in the test process, with the local stack's DynamoDB correction, as `meshplane local up` runs it.

Plain moto lets two conditional writes interleave between the condition check and the write,
so races the API settles with optimistic locking would pass twice. Only the DynamoDB
corrections are installed (with the partition Query, which changes no answer): the IAM
emulation would change what in-process `@mock_aws` unit tests in the same worker observe.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshplane.local import moto_dynamodb, moto_query
from moto.server import ThreadedMotoServer


def moto_server() -> Iterator[str]:
    """Serve moto on a free loopback port for as long as the generator is open; yields its endpoint URL."""
    moto_dynamodb.install()
    moto_query.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
