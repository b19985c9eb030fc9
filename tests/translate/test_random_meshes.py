"""Random valid meshes: every proxy's snapshot is consistent and real Envoy accepts it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from meshplane.graph import proxies
from meshplane.model.state import MeshState
from meshplane.snapshot.consistency import check
from meshplane.translate import translate
from meshplane.translate.envoy_check import rejections
from meshplane.translate.static import inline_bootstrap

from .strategies import meshes


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(meshes())
def test_real_envoy_accepts_every_proxy_of_a_random_valid_mesh(state: MeshState) -> None:
    snapshots = {str(p): translate(state, p) for p in proxies(state)}
    assert {p: check(s) for p, s in snapshots.items() if check(s)} == {}
    assert rejections({p: inline_bootstrap(s) for p, s in snapshots.items()}) == {}
