"""Keeps AWS request and response bodies out of the logs of code that handles secrets.

At DEBUG, botocore logs every request and response body. An ACM export's carry the
passphrase and the private key, a Secrets Manager read of the node CA its key: code
about to make such a call keeps those loggers at INFO or above, whatever level the
process runs at, so keys never reach the logs.
"""

from __future__ import annotations

import logging

WIRE_LOGGERS = ("botocore.endpoint", "botocore.parsers")  # the ones that print request and response bodies


def keep_bodies_out_of_logs() -> None:
    for name in WIRE_LOGGERS:
        wire = logging.getLogger(name)
        if wire.getEffectiveLevel() < logging.INFO:
            wire.setLevel(logging.INFO)
