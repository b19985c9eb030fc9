"""A policy write, read from the table's real DynamoDB stream, rebuilds exactly the proxies that use the policy.

The `colors` mesh: `front` calls `colors.local`, routed to `colors-blue`.  An authorization section on
`colors-blue` is that proxy's own (its ingress), so only `colors-blue` is rebuilt; a zoneAware section
on it is what its callers apply, so `front` is rebuilt when the policy gains one; a delete rebuilds
everything that used the policy when it was last published (the dependency index).
"""

from __future__ import annotations

from typing import Any

from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy.keys import PolicyKey
from meshplane.model.policy.spec import PolicySpec
from meshplane.pipeline.ports import ModuleTranslator
from meshplane.pipeline.wiring import Collaborators
from meshplane.snapshot.types import XdsType
from meshplane.store.policies import PolicyStore
from pipeline import meshes
from pipeline.conftest import World, aws_env, aws_vars, make_world

__all__ = ["aws_env", "aws_vars"]  # the pipeline tests' moto environment, as fixtures here

FRONT = ProxyId("colors", Kind.VIRTUAL_NODE, "front")
BLUE = ProxyId("colors", Kind.VIRTUAL_NODE, "colors-blue")
POLICY = PolicyKey("colors", "blue-policy")
AUTHORIZATION = {"rules": [{"action": "DENY", "to": {"paths": [{"prefix": "/private"}]}}]}


class CountingTranslator(ModuleTranslator):
    """The real translator, recording which proxies it built."""

    def __init__(self) -> None:
        self.built: list[str] = []

    def translate(self, state: Any, proxy: ProxyId, *rest: Any) -> Any:
        self.built.append(proxy.path)
        return super().translate(state, proxy, *rest)


def _spec(**sections: Any) -> PolicySpec:
    return PolicySpec.model_validate({"targets": [{"virtualNode": {"virtualNodeName": "colors-blue"}}], **sections})


def _has_rbac(world: World) -> bool:
    """Whether colors-blue's published listeners carry the RBAC filter."""
    blue = world.snapshot(BLUE)
    assert blue is not None
    return any("envoy.filters.http.rbac" in str(listener) for listener in blue.of(XdsType.LISTENERS).values())


def _rebuilt(world: World, translator: CountingTranslator) -> list[str]:
    translator.built.clear()
    assert world.recompute() == {"batchItemFailures": []}
    return sorted(translator.built)


def test_policy_writes_rebuild_exactly_the_proxies_that_use_the_policy(aws_env: None) -> None:
    translator = CountingTranslator()
    world = make_world(validators=[])
    world.pipeline.parts = Collaborators(world.pipeline.parts.loader, world.pipeline.parts.graph, translator, [])
    world.pipeline.recomputer._translator = translator
    meshes.colors(world)
    world.recompute()
    policies = PolicyStore(world.store)

    policies.create(POLICY, _spec(authorization=AUTHORIZATION))
    assert _rebuilt(world, translator) == [BLUE.path]
    assert _has_rbac(world)

    policies.update(POLICY, _spec(authorization=AUTHORIZATION, zoneAware={"minClusterSize": 1}))
    assert _rebuilt(world, translator) == sorted([FRONT.path, BLUE.path])

    policies.delete(POLICY)
    assert _rebuilt(world, translator) == sorted([FRONT.path, BLUE.path])
    assert not _has_rbac(world)
