"""Every catalogue mesh, rendered for every proxy, is consistent and accepted by real Envoy."""

from __future__ import annotations

import pytest
from meshplane.graph import proxies
from meshplane.snapshot.consistency import check
from meshplane.translate import translate
from meshplane.translate.envoy_check import rejections
from meshplane.translate.static import inline_bootstrap
from support import TestCA

from .catalogue import CATALOGUE, Pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.issue(TestCA(tmp_path_factory.mktemp("catalogue-pki")))


@pytest.mark.parametrize("mesh", sorted(CATALOGUE))
def test_every_proxy_of_the_catalogue_mesh_is_consistent_and_valid(mesh: str, pki: Pki) -> None:
    state = CATALOGUE[mesh](pki)
    snapshots = {str(p): translate(state, p) for p in proxies(state)}
    assert snapshots, "the catalogue mesh defines proxies"
    assert {proxy: check(s) for proxy, s in snapshots.items() if check(s)} == {}
    assert rejections({p: inline_bootstrap(s) for p, s in snapshots.items()}) == {}
