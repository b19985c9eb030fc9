"""What moto's server spends on every request before and after the request itself.

To pick the backend of each request, moto's dispatcher lists its own package directory
(`os.listdir` plus an `isdir` per entry), and werkzeug writes a log line per request
through colorama. The package does not change while the server runs, so the listing is
read once; request lines stay off and werkzeug's warnings and errors still reach the log.
"""

from __future__ import annotations

import functools
import logging


def install() -> None:
    from moto import backends

    if getattr(backends.list_of_moto_modules, "cache_info", None) is None:  # not installed yet
        listing = backends.list_of_moto_modules
        backends.list_of_moto_modules = functools.cache(lambda: tuple(listing()))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
