"""The 38 operations, written once per verb and applied to every resource kind.

Each takes the validated `*Input` model and returns the `*Output` model; all
state goes through the ResourceStore.  Rules that need other resources (the
ports of weighted targets, the backends quota) are checked here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from meshplane.api import pagination
from meshplane.api.routes import Operation
from meshplane.model import rules, shapes
from meshplane.model.acm_arns import Home, acm_refs
from meshplane.model.base import AppMeshModel
from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.policy.keys import ARN_SERVICE as POLICY_ARN_SERVICE
from meshplane.store.errors import BadRequest, Forbidden, LimitExceeded, NotFound
from meshplane.store.kinds import BY_TYPE_NAME, KindInfo
from meshplane.store.resources import ResourceStore, describe_key

DEFAULT_PAGE = 100
DEFAULT_TAG_PAGE = 50
VERBS = ("Create", "Describe", "Update", "Delete", "List")


class Operations:
    """Runs one bound operation against the store."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def run(self, op: Operation, inp: AppMeshModel) -> AppMeshModel:
        if op.name in ("TagResource", "UntagResource", "ListTagsForResource"):
            tagging: Callable[[Operation, AppMeshModel], AppMeshModel] = getattr(self, _snake(op.name))
            return tagging(op, inp)
        verb, info = _verb_and_kind(op.name)
        values = inp.model_dump(by_alias=True)
        self._check_owner(values.get("meshOwner"))
        handler: Callable[[Operation, KindInfo, dict[str, Any], AppMeshModel], AppMeshModel] = getattr(
            self, verb.lower()
        )
        return handler(op, info, values, inp)

    # --- per verb --------------------------------------------------------------------------

    def create(self, op: Operation, info: KindInfo, values: dict[str, Any], inp: Any) -> AppMeshModel:
        key = info.key_of(values["meshName"], values)
        for field in ("meshName", info.parent_field, info.name_field):
            if field:
                _rule(partial(rules.check_name, field, values[field]))
        spec = inp.spec if inp.spec is not None else info.spec()
        self._check_spec(key, spec)
        tags = {t.key: t.value for t in inp.tags or ()}
        data = self.store.create(key, spec, tags=tags, token=inp.client_token, request_hash=_request_hash(inp))
        return op.output_model.model_validate({op.output_payload: data})

    def update(self, op: Operation, info: KindInfo, values: dict[str, Any], inp: Any) -> AppMeshModel:
        key = info.key_of(values["meshName"], values)
        spec = inp.spec if inp.spec is not None else info.spec()
        self._check_spec(key, spec)
        data = self.store.update(key, spec, token=inp.client_token, request_hash=_request_hash(inp))
        return op.output_model.model_validate({op.output_payload: data})

    def describe(self, op: Operation, info: KindInfo, values: dict[str, Any], inp: Any) -> AppMeshModel:
        data = self.store.describe(info.key_of(values["meshName"], values))
        return op.output_model.model_validate({op.output_payload: data})

    def delete(self, op: Operation, info: KindInfo, values: dict[str, Any], inp: Any) -> AppMeshModel:
        data = self.store.delete(info.key_of(values["meshName"], values))
        return op.output_model.model_validate({op.output_payload: data})

    def list(self, op: Operation, info: KindInfo, values: dict[str, Any], inp: Any) -> AppMeshModel:
        mesh = values.get("meshName")
        parent = values.get(info.parent_field) if info.parent_field else None
        scope = "/".join(str(p) for p in (op.name, mesh, parent) if p is not None)
        after = pagination.decode(inp.next_token, scope)
        limit = inp.limit or DEFAULT_PAGE
        if info.kind is Kind.MESH:
            page, last = self.store.mesh_page(limit, after)
        else:
            page, last = self.store.list_page(info.kind, values["meshName"], parent, limit, after)
        list_field = next(f.alias or n for n, f in op.output_model.model_fields.items() if n != "next_token")
        return op.output_model.model_validate(
            {
                list_field: [_ref(info, data) for data in page],
                "nextToken": pagination.encode(scope, last) if last is not None else None,
            }
        )

    # --- tags ------------------------------------------------------------------------------

    def tag_resource(self, op: Operation, inp: Any) -> AppMeshModel:
        store, key = self._tagged(inp.resource_arn)
        store.tag(key, {t.key: t.value for t in inp.tags})
        return op.output_model()

    def untag_resource(self, op: Operation, inp: Any) -> AppMeshModel:
        store, key = self._tagged(inp.resource_arn)
        store.untag(key, list(inp.tag_keys))
        return op.output_model()

    def list_tags_for_resource(self, op: Operation, inp: Any) -> AppMeshModel:
        scope = f"{op.name}/{inp.resource_arn}"
        after = pagination.decode(inp.next_token, scope)
        store, key = self._tagged(inp.resource_arn)
        tags = sorted(store.tags(key).items())
        remaining = [(k, v) for k, v in tags if after is None or k > after]
        page = remaining[: inp.limit or DEFAULT_TAG_PAGE]
        more = len(remaining) > len(page)
        return op.output_model.model_validate(
            {
                "tags": [shapes.TagRef(key=k, value=v) for k, v in page],
                "nextToken": pagination.encode(scope, page[-1][0]) if more else None,
            }
        )

    # --- checks ----------------------------------------------------------------------------

    def _check_owner(self, owner: str | None) -> None:
        if owner is not None and owner != self.store.account:
            raise Forbidden(f"meshOwner {owner}: meshes shared from other accounts are not supported")

    def _tagged(self, arn: str) -> tuple[Any, Any]:
        """The store holding the tags of `arn`, and its key there: an App Mesh resource's, or a meshplane policy's."""
        if arn.split(":", 3)[2:3] == [POLICY_ARN_SERVICE]:
            from meshplane.store.policies import PolicyStore

            policies = PolicyStore(self.store)
            return policies, policies.key_of_arn(arn)
        return self.store, self._key_of_arn(arn)

    def _key_of_arn(self, arn: str) -> ResourceKey:
        try:
            key = ResourceKey.from_arn(arn)
        except ValueError as exc:
            raise BadRequest(f"resourceArn: {exc}") from None
        if key.arn(self.store.region, self.store.account, partition=self.store.partition) != arn:
            raise NotFound(f"resourceArn: {arn} is not a resource of this account and region")
        return key

    def _check_spec(self, key: ResourceKey, spec: Any) -> None:
        _rule(lambda: rules.check_spec(spec))
        self._check_acm(spec)
        if key.kind is Kind.VIRTUAL_NODE and len(spec.backends or ()) > self.store.limits.backends_per_node:
            raise LimitExceeded(f"spec.backends: at most {self.store.limits.backends_per_node} backends per node")
        if key.kind is Kind.ROUTE:
            specs = _SpecsAtHand(self.store, [_parent_key(key), *_target_keys(key, spec)])
            self._check_match_port(key, spec, specs)
            self._check_targets(key, spec, specs)
            _refuse_misfit(specs, key, spec)
        if key.kind is Kind.GATEWAY_ROUTE:
            self._check_match_port(key, spec, _SpecsAtHand(self.store, [_parent_key(key)]))
        if key.kind is Kind.VIRTUAL_ROUTER:
            _refuse_misfit(self.store, key, spec)

    def _check_acm(self, spec: Any) -> None:
        """ACM certificates and PCA authorities of this stack's partition, region and account only."""
        home = Home(self.store.partition, self.store.region, self.store.account)
        for ref in acm_refs(spec):
            reason = home.refusal(ref.arn, ref.kind)
            if reason is not None:
                raise BadRequest(f"spec.{ref.field}: {reason}")

    def _check_match_port(self, key: ResourceKey, spec: Any, specs: _SpecsAtHand) -> None:
        """As App Mesh: under a parent with several listeners, each (gateway) route matches one of its ports."""
        parent_key = _parent_key(key)
        parent_spec = specs.spec(parent_key)
        if not isinstance(parent_spec, (shapes.VirtualRouterSpec, shapes.VirtualGatewaySpec)):
            return  # None: the missing parent is reported as NotFound by the write itself
        ports = [listener.port_mapping.port for listener in parent_spec.listeners or ()]
        route = _route_body(spec)
        port = route.match.port if route.match is not None else None
        parent = f"{parent_key.kind.value} {key.parent!r}"
        if port is None and len(ports) > 1:
            raise BadRequest(f"match.port: a route must define a port match criteria if the {parent} has multiple "
                             f"listeners {ports}")  # fmt: skip
        if port is not None and port not in ports:
            raise BadRequest(f"match.port: {port} is not a listener port of {parent} {ports}")

    def _check_targets(self, key: ResourceKey, spec: shapes.RouteSpec, specs: _SpecsAtHand) -> None:
        """A target node with several listeners needs a port, and a given port must be one of them."""
        route = _route_body(spec)
        for i, target in enumerate(route.action.weighted_targets):
            node_key = ResourceKey(Kind.VIRTUAL_NODE, key.mesh, target.virtual_node)
            node = specs.spec(node_key)
            if not isinstance(node, shapes.VirtualNodeSpec):  # None: no such node
                raise NotFound(f"weightedTargets[{i}]: {describe_key(node_key)} does not exist")
            ports = [listener.port_mapping.port for listener in node.listeners or ()]
            field = f"weightedTargets[{i}].port"
            if target.port is None and len(ports) > 1:
                raise BadRequest(f"{field}: required, virtual node {target.virtual_node!r} has several listeners")
            if target.port is not None and ports and target.port not in ports:
                raise BadRequest(f"{field}: {target.port} is not a listener port of {target.virtual_node!r} {ports}")


_ROUTE_ATTRS = ("http_route", "http2_route", "grpc_route", "tcp_route")


class _SpecsAtHand:
    """The store as a write's reference checks read it: the specs they will ask for are read together first
    (one BatchGetItem, strongly consistent as each GetItem was), so a route write waits on one read, not one
    per router and target.  Anything else is read from the store when asked."""

    def __init__(self, store: ResourceStore, keys: Sequence[ResourceKey]) -> None:
        self._store = store
        self._specs = store.specs(keys)

    def spec(self, key: ResourceKey) -> Any | None:
        return self._specs[key] if key in self._specs else self._store.spec(key)

    def list_page(self, kind: Kind, mesh: str, parent: str | None, limit: int,
                  start_after: str | None) -> tuple[list[Any], str | None]:
        return self._store.list_page(kind, mesh, parent, limit, start_after)


def _parent_key(key: ResourceKey) -> ResourceKey:
    parent_kind = key.kind.parent_kind
    assert parent_kind is not None  # routes and gateway routes have one
    return ResourceKey(parent_kind, key.mesh, key.parent or "")


def _route_body(spec: Any) -> Any:
    """The one route type a (gateway) route spec sets: its match and action."""
    return next(r for r in (getattr(spec, a, None) for a in _ROUTE_ATTRS) if r)


def _target_keys(key: ResourceKey, spec: shapes.RouteSpec) -> list[ResourceKey]:
    route = _route_body(spec)
    return [ResourceKey(Kind.VIRTUAL_NODE, key.mesh, t.virtual_node) for t in route.action.weighted_targets]


def _refuse_misfit(store: Any, key: ResourceKey, spec: Any) -> None:
    """Routes must fit their router's listeners, both ways (`graph.route_fit`)."""
    from meshplane.graph import route_fit

    refusal = route_fit.refusal(store, key, spec)
    if refusal is not None:
        raise BadRequest(refusal)


def _rule(check: Callable[[], None]) -> None:
    try:
        check()
    except rules.RuleViolation as exc:
        raise BadRequest(str(exc)) from None


def _ref(info: KindInfo, data: Any) -> AppMeshModel:
    metadata = data.metadata.model_dump(by_alias=True)
    names = {field: getattr(data, _attr(info.data, field)) for field in (info.name_field, info.parent_field) if field}
    values = {**metadata, **names, "meshName": data.mesh_name}
    wanted = {f.alias or n for n, f in info.ref.model_fields.items()}
    return info.ref.model_validate({k: v for k, v in values.items() if k in wanted})


def _attr(model: type[AppMeshModel], alias: str) -> str:
    return next(n for n, f in model.model_fields.items() if (f.alias or n) == alias)


def _request_hash(inp: AppMeshModel) -> str:
    """What a client token promises to repeat: the whole request but the token."""
    content = inp.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"client_token"})
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


def _verb_and_kind(name: str) -> tuple[str, KindInfo]:
    for verb in VERBS:
        if name.startswith(verb):
            type_name = name[len(verb) :]
            if verb == "List":
                type_name = "Mesh" if type_name == "Meshes" else type_name.removesuffix("s")
            return verb, BY_TYPE_NAME[type_name]
    raise NotFound(f"operation {name} is not implemented")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
