"""The emulator's per-request savings (`moto_overhead`) change no answer moto gives."""

from __future__ import annotations

import logging
import os

import pytest
from meshplane.local import moto_overhead
from moto import backends


def test_the_backend_listing_is_moto_s_own_and_is_read_from_disk_once(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_overhead.install()
    listings: list[str] = []
    listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: listings.append(path) or listdir(path))
    first = list(backends.list_of_moto_modules())
    assert {"dynamodb", "s3", "sqs", "servicediscovery", "events"} <= set(first)
    assert list(backends.list_of_moto_modules()) == first
    moto_overhead.install()  # installing twice keeps the one cache
    assert list(backends.list_of_moto_modules()) == first
    assert len(listings) <= 1  # at most the first call read the directory, if no earlier install had


def test_requests_are_not_logged_one_line_each_but_warnings_are() -> None:
    moto_overhead.install()
    werkzeug = logging.getLogger("werkzeug")
    assert not werkzeug.isEnabledFor(logging.INFO)
    assert werkzeug.isEnabledFor(logging.WARNING)
