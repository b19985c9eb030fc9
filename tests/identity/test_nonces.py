"""The replay cache remembers a nonce exactly as long as a proof carrying it could still be accepted."""

from __future__ import annotations

import pytest
from meshplane.identity.nonces import NonceCache, NoncesFull

from .conftest import Clock


def test_a_nonce_is_claimed_once_until_it_expires() -> None:
    clock = Clock(1000.0)
    nonces = NonceCache(clock=clock)
    assert nonces.claim("a", 1300.0)
    assert not nonces.claim("a", 1300.0)
    clock.now = 1299.0
    assert not nonces.claim("a", 1600.0)
    clock.now = 1300.0
    assert nonces.claim("a", 1600.0), "expired, so a proof carrying it is refused for its date anyway"


def test_a_full_cache_refuses_instead_of_evicting_and_frees_space_as_nonces_expire() -> None:
    clock = Clock(1000.0)
    nonces = NonceCache(max_entries=2, clock=clock)
    assert nonces.claim("a", 1100.0) and nonces.claim("b", 1200.0)
    with pytest.raises(NoncesFull):
        nonces.claim("c", 1300.0)
    assert not nonces.claim("a", 1100.0)
    clock.now = 1100.0
    assert nonces.claim("c", 1300.0)
    assert len(nonces) == 2
