"""Every catalogue mesh, rendered for every proxy, is consistent and accepted by real Envoy."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from meshplane.graph import proxies
from meshplane.snapshot.consistency import check
from meshplane.translate import translate
from meshplane.translate.envoy_check import EnvoyRejected, validate
from meshplane.translate.static import inline_bootstrap
from support import TestCA

from .catalogue import CATALOGUE, Pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.issue(TestCA(tmp_path_factory.mktemp("catalogue-pki")))


def _rejection(bootstrap) -> str | None:
    try:
        validate(bootstrap)
    except EnvoyRejected as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("mesh", sorted(CATALOGUE))
def test_every_proxy_of_the_catalogue_mesh_is_consistent_and_valid(mesh: str, pki: Pki, tmp_path: Path) -> None:
    state = CATALOGUE[mesh](pki)
    snapshots = {str(p): translate(state, p) for p in proxies(state)}
    assert snapshots, "the catalogue mesh defines proxies"
    inconsistent = {proxy: check(s) for proxy, s in snapshots.items() if check(s)}
    assert inconsistent == {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = dict(
            zip(snapshots, pool.map(_rejection, (inline_bootstrap(s) for s in snapshots.values())), strict=True)
        )
    assert {p: v for p, v in verdicts.items() if v is not None} == {}
