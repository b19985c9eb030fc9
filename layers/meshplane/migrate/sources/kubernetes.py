"""App Mesh controller CRDs (`appmesh.k8s.aws/v1beta2`), read as the controller applied them.

The facts come from aws/aws-app-mesh-controller-for-k8s (its CRD schemas and its
webhooks, conversions and reference resolution):
- names: a Mesh's App Mesh name is `spec.awsName`, else its `metadata.name`; a
  VirtualService's is `awsName` else `<name>.<namespace>`; every other kind's is `awsName`
  else `<name>_<namespace>`.  A route is a VirtualRouter's `spec.routes[]` entry, named by
  its `name`.
- mesh membership: `spec.meshRef.name` (the admission webhook writes it, so exported
  objects carry it), else the one Mesh whose `namespaceSelector` matches the labels of the
  object's Namespace (which must then be in the sources).  A GatewayRoute's gateway is
  `spec.virtualGatewayRef`, else the one VirtualGateway whose `namespaceSelector` matches the
  route's Namespace and whose `gatewayRouteSelector` (absent: everything) its labels.
- references (`virtualServiceRef`, `virtualNodeRef`, `virtualRouterRef`): by name and
  namespace (default: the referencing object's), resolved to the target object's App Mesh
  name, which must be in the sources and in the same mesh; or by ARN (`...ARN`), of which
  only the resource's name is used.
- `backendGroups` add the backends of each BackendGroup (`*`: every VirtualService of that
  namespace), as the controller does with `--enable-backend-groups`.
- k8s-only members (`podSelector`, `namespaceSelector`, `gatewayRouteSelector`) select pods
  and namespaces, not App Mesh state, and are read past; the controller dropped a virtual
  gateway listener's `tls.validation.trust.acm` (App Mesh has none), and so does the import,
  with a note.  The controller sets no tags, so existing tags are left alone.
Objects of other API groups (Deployments, Services...) are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from meshplane.migrate.desired import Desired
from meshplane.migrate.errors import Collector, Origin, SourceError
from meshplane.migrate.wire import DROPPED, Rename, member, to_wire
from meshplane.model import shapes
from meshplane.model.base import AppMeshModel
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store.kinds import KINDS

GROUP = "appmesh.k8s.aws"
VERSION = f"{GROUP}/v1beta2"
KINDS_BY_CRD: dict[str, Kind] = {
    "Mesh": Kind.MESH,
    "VirtualNode": Kind.VIRTUAL_NODE,
    "VirtualService": Kind.VIRTUAL_SERVICE,
    "VirtualRouter": Kind.VIRTUAL_ROUTER,
    "VirtualGateway": Kind.VIRTUAL_GATEWAY,
    "GatewayRoute": Kind.GATEWAY_ROUTE,
}
SUPPORTED = (*KINDS_BY_CRD, "BackendGroup")
K8S_ONLY = ("podSelector", "namespaceSelector", "gatewayRouteSelector")
# Members of the top of each CRD spec that are not the App Mesh spec's: handled here, not by the mapping.
CONTROL = ("awsName", "meshRef", "meshOwner", "backendGroups", "routes", "virtualGatewayRef", *K8S_ONLY)
# Reference members: (suffix-less base, CRD kind of the target)
REFERENCE_KINDS = {"virtualService": "VirtualService", "virtualNode": "VirtualNode", "virtualRouter": "VirtualRouter"}


@dataclass
class Obj:
    """One Kubernetes object of the sources."""

    kind: str
    namespace: str | None
    name: str
    body: dict[str, Any]
    source: str

    @property
    def origin(self) -> Origin:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return Origin(self.source, f"{self.kind} {where}")

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        labels = (self.body.get("metadata") or {}).get("labels")
        return labels if isinstance(labels, dict) else {}

    def aws_name(self) -> str:
        """The App Mesh name the controller gives this object."""
        given = self.spec.get("awsName")
        if given:
            if not isinstance(given, str):
                raise SourceError(self.origin, "spec.awsName", "must be a string")
            return given
        if self.kind == "Mesh":
            return self.name
        if self.kind == "VirtualService":
            return f"{self.name}.{self.namespace}"
        return f"{self.name}_{self.namespace}"


def is_manifest(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("apiVersion"), str) and "kind" in document


def objects(source: str, documents: Iterable[Any], errors: Collector) -> list[Obj]:
    """The objects of a multi-document YAML file, `kind: List` flattened; non-objects are errors."""
    found: list[Obj] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        if isinstance(document, dict) and str(document.get("kind", "")).endswith("List") \
                and isinstance(document.get("items"), list):
            found.extend(objects(source, document["items"], errors))
            continue
        if not is_manifest(document):
            errors.errors.append(SourceError(Origin(source, f"document {index + 1}"), None,
                                             "is not a Kubernetes object (apiVersion, kind, metadata)"))
            continue
        metadata = document.get("metadata") or {}
        name, namespace = metadata.get("name"), metadata.get("namespace")
        if not isinstance(name, str) or not name:
            errors.errors.append(SourceError(Origin(source, f"document {index + 1}"), "metadata.name", "is required"))
            continue
        kind = str(document["kind"])
        if kind in SUPPORTED and namespace is None and kind != "Mesh":
            namespace = "default"  # kubectl applies a namespaced object without one to `default`
        found.append(Obj(kind, namespace, name, document, source))
    return found


@dataclass
class Cluster:
    """Every object of the sources, indexed as the controller looks them up."""

    objs: list[Obj]
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels
    by_key: dict[tuple[str, str | None, str], Obj] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for obj in self.objs:
            if obj.kind == "Namespace" and obj.body.get("apiVersion") == "v1":
                self.namespaces[obj.name] = obj.labels
            elif obj.body.get("apiVersion", "").startswith(f"{GROUP}/"):
                self.by_key[(obj.kind, obj.namespace, obj.name)] = obj

    def appmesh_objects(self) -> list[Obj]:
        return [o for o in self.objs if str(o.body.get("apiVersion", "")).startswith(f"{GROUP}/")]

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for o in self.by_key.values() if o.kind == kind]

    # --- membership ------------------------------------------------------------------------

    def mesh_of(self, obj: Obj) -> Obj:
        ref = obj.spec.get("meshRef")
        if ref is not None:
            name = ref.get("name") if isinstance(ref, dict) else None
            mesh = self.by_key.get(("Mesh", None, name)) if isinstance(name, str) else None
            if mesh is None:
                raise SourceError(obj.origin, "spec.meshRef.name", f"Mesh {name!r} is not in the sources")
            return mesh
        labels = self._namespace_labels(obj, "spec.meshRef")
        meshes = [m for m in self.of_kind("Mesh") if selects(m.spec.get("namespaceSelector"), labels, nil=False)]
        return _exactly_one(meshes, obj, "spec.meshRef", f"Mesh whose namespaceSelector matches namespace "
                                                         f"{obj.namespace!r}")

    def gateway_of(self, route: Obj) -> Obj:
        ref = route.spec.get("virtualGatewayRef")
        if ref is not None:
            if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
                raise SourceError(route.origin, "spec.virtualGatewayRef.name", "is required")
            namespace = ref.get("namespace") or route.namespace
            gateway = self.by_key.get(("VirtualGateway", namespace, ref["name"]))
            if gateway is None:
                raise SourceError(route.origin, "spec.virtualGatewayRef",
                                  f"VirtualGateway {namespace}/{ref['name']} is not in the sources")
            return gateway
        labels = self._namespace_labels(route, "spec.virtualGatewayRef")
        gateways = [g for g in self.of_kind("VirtualGateway")
                    if selects(g.spec.get("namespaceSelector"), labels, nil=False)
                    and selects(g.spec.get("gatewayRouteSelector"), route.labels, nil=True)]
        return _exactly_one(gateways, route, "spec.virtualGatewayRef",
                            "VirtualGateway whose namespaceSelector and gatewayRouteSelector select it")

    def _namespace_labels(self, obj: Obj, field_name: str) -> dict[str, str]:
        if obj.namespace not in self.namespaces:
            raise SourceError(obj.origin, field_name, f"not set, and Namespace {obj.namespace!r} is not in the "
                                                      "sources to select a parent by its labels: add the Namespace "
                                                      f"manifest or set {field_name}")
        return self.namespaces[obj.namespace]

    # --- references ------------------------------------------------------------------------

    def referenced(self, referrer: Obj, crd_kind: str, ref: Any, path: str) -> Obj:
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
            raise SourceError(referrer.origin, path, "needs a name (and optionally a namespace)")
        namespace = ref.get("namespace") or referrer.namespace
        target = self.by_key.get((crd_kind, namespace, ref["name"]))
        if target is None:
            raise SourceError(referrer.origin, path, f"{crd_kind} {namespace}/{ref['name']} is not in the sources")
        return target


def selects(selector: Any, labels: Mapping[str, str], *, nil: bool) -> bool:
    """A metav1.LabelSelector against labels; a nil selector selects `nil` (nothing for meshes and namespaces)."""
    if selector is None:
        return nil
    if not isinstance(selector, dict):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _exactly_one(candidates: list[Obj], obj: Obj, field_name: str, what: str) -> Obj:
    if len(candidates) == 1:
        return candidates[0]
    names = ", ".join(sorted(c.name for c in candidates)) or "none"
    raise SourceError(obj.origin, field_name, f"not set, and not exactly one {what} (found: {names})")


class Reader:
    """Turns the App Mesh objects of a Cluster into Desired resources."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def desired(self) -> list[Desired]:
        errors = Collector()
        found: list[Desired] = []
        for obj in self.cluster.appmesh_objects():
            if obj.body.get("apiVersion") != VERSION:
                errors.errors.append(SourceError(obj.origin, "apiVersion", f"{obj.body.get('apiVersion')} is not "
                                                                           f"supported: use {VERSION}"))
                continue
            if obj.kind not in SUPPORTED:
                errors.errors.append(SourceError(obj.origin, "kind", f"{obj.kind} is not an App Mesh kind meshplane "
                                                                     f"knows ({', '.join(SUPPORTED)})"))
                continue
            if obj.kind == "BackendGroup":
                continue  # read through the VirtualNodes that name it
            resources = errors.run(obj.origin, partial(self._resources, obj))
            found.extend(resources or ())
        errors.raise_if_any()
        return found

    def _resources(self, obj: Obj) -> list[Desired]:
        kind = KINDS_BY_CRD[obj.kind]
        spec = dict(obj.spec)
        name = obj.aws_name()
        if kind is Kind.MESH:
            owner = spec.get("meshOwner")
            body = {k: v for k, v in spec.items() if k not in CONTROL}
            if "meshServiceDiscovery" in body:  # the CRD's name for the API's MeshSpec.serviceDiscovery
                body["serviceDiscovery"] = body.pop("meshServiceDiscovery")
            paths: dict[tuple[str | int, ...], str] = {}
            wire = self._wire(obj, body, KINDS[kind].spec, paths=paths)
            return [Desired(ResourceKey(kind, name, name), wire, obj.origin, mesh_owner=owner, paths=paths)]
        mesh = self.cluster.mesh_of(obj)
        mesh_name, owner = mesh.aws_name(), mesh.spec.get("meshOwner")
        body = {k: v for k, v in spec.items() if k not in CONTROL}
        notes: list[str] = []
        if kind is Kind.VIRTUAL_NODE:
            body["backends"] = [*body.get("backends", []), *self._group_backends(obj, spec)]
            if not body["backends"]:
                del body["backends"]
        if kind is Kind.GATEWAY_ROUTE:
            gateway = self.cluster.gateway_of(obj)
            self._same_mesh(obj, gateway, mesh, "spec.virtualGatewayRef")
            key = ResourceKey(kind, mesh_name, name, gateway.aws_name())
        else:
            key = ResourceKey(kind, mesh_name, name)
        paths = {}
        wire = self._wire(obj, body, KINDS[kind].spec, mesh, notes, paths=paths)
        found = [Desired(key, wire, obj.origin, mesh_owner=owner, notes=notes, paths=paths)]
        if kind is Kind.VIRTUAL_ROUTER:
            found += self._routes(obj, spec.get("routes") or [], mesh, name, owner)
        return found

    def _routes(self, router: Obj, routes: Any, mesh: Obj, router_name: str, owner: str | None) -> list[Desired]:
        if not isinstance(routes, list):
            raise SourceError(router.origin, "spec.routes", "must be a list")
        found = []
        for i, route in enumerate(routes):
            path = f"spec.routes[{i}]"
            if not isinstance(route, dict) or not isinstance(route.get("name"), str) or not route["name"]:
                raise SourceError(router.origin, f"{path}.name", "is required")
            body = {k: v for k, v in route.items() if k != "name"}
            paths: dict[tuple[str | int, ...], str] = {}
            wire = self._wire(router, body, shapes.RouteSpec, mesh, path=path, paths=paths)
            key = ResourceKey(Kind.ROUTE, mesh.aws_name(), route["name"], router_name)
            found.append(Desired(key, wire, router.origin, mesh_owner=owner, paths=paths))
        return found

    def _group_backends(self, node: Obj, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """The backends the node's BackendGroups add, after its own, each service once."""
        groups = spec.get("backendGroups") or []
        if not isinstance(groups, list):
            raise SourceError(node.origin, "spec.backendGroups", "must be a list")
        own = {(b.get("virtualService", {}).get("virtualServiceRef") or {}).get("name") for b in spec.get("backends")
               or [] if isinstance(b, dict)}
        added: list[dict[str, Any]] = []
        seen: set[tuple[str | None, str | None]] = set()
        for i, group in enumerate(groups):
            path = f"spec.backendGroups[{i}]"
            if not isinstance(group, dict) or not isinstance(group.get("name"), str):
                raise SourceError(node.origin, path, "needs a name")
            namespace = group.get("namespace") or node.namespace
            if group["name"] == "*":
                refs = [{"namespace": s.namespace, "name": s.name} for s in self.cluster.of_kind("VirtualService")
                        if s.namespace == namespace]
            else:
                backend_group = self.cluster.referenced(node, "BackendGroup", group, path)
                refs = backend_group.spec.get("virtualServices") or []
            for ref in sorted(refs, key=lambda r: (r.get("namespace") or namespace, r.get("name", ""))):
                target = (ref.get("namespace") or namespace, ref.get("name", ""))
                if target in seen or (target[0] == node.namespace and target[1] in own):
                    continue
                seen.add(target)
                added.append({"virtualService": {"virtualServiceRef": {"namespace": target[0], "name": target[1]}}})
        return added

    def _same_mesh(self, obj: Obj, target: Obj, mesh: Obj, path: str) -> None:
        if target.kind != "Mesh" and self.cluster.mesh_of(target).name != mesh.name:
            raise SourceError(obj.origin, path, f"{target.kind} {target.namespace}/{target.name} belongs to another "
                                                f"mesh than {mesh.name!r}")

    def _wire(self, obj: Obj, body: dict[str, Any], model: type[AppMeshModel], mesh: Obj | None = None,
              notes: list[str] | None = None, path: str = "spec",
              paths: dict[tuple[str | int, ...], str] | None = None) -> dict[str, Any]:
        rename = self._rename(obj, mesh, notes if notes is not None else [])
        return to_wire(body, model, path, rename=rename, paths=paths)

    def _rename(self, obj: Obj, mesh: Obj | None, notes: list[str]) -> Rename:
        cluster = self.cluster

        def rename(model: type[AppMeshModel], key: str, value: Any, path: str) -> tuple[str, Any] | None:
            if model.__name__ == "VirtualGatewayListenerTlsValidationContextTrust" and key == "acm":
                notes.append(f"{path}: App Mesh has no ACM trust on gateway listeners; the controller dropped it")
                return DROPPED
            for suffix in ("Ref", "ARN"):
                base = key.removesuffix(suffix)
                if not key.endswith(suffix) or base not in REFERENCE_KINDS:
                    continue
                wire = next((m.wire for m in (member(model, f"{base}Name"), member(model, base)) if m), None)
                if wire is None:
                    return None
                if suffix == "ARN":
                    return wire, _name_of_arn(value, base, obj, path)
                target = cluster.referenced(obj, REFERENCE_KINDS[base], value, path)
                if mesh is not None:
                    self._same_mesh(obj, target, mesh, path)
                return wire, target.aws_name()
            return None

        return rename


def _name_of_arn(arn: Any, kind: str, obj: Obj, path: str) -> str:
    try:
        key = ResourceKey.from_arn(arn) if isinstance(arn, str) else None
    except ValueError:
        key = None
    if key is None or key.kind.value != kind:
        raise SourceError(obj.origin, path, f"must be the ARN of a {kind}, got {arn!r}")
    return key.name


def load(source: str, documents: Iterable[Any]) -> list[Desired]:
    """The App Mesh resources of one file's objects (the cross-file index comes from `load_all`)."""
    return load_all([(source, documents)])


def load_all(files: Iterable[tuple[str, Iterable[Any]]]) -> list[Desired]:
    """The App Mesh resources of several files read as one cluster: references may cross files."""
    errors = Collector()
    objs: list[Obj] = []
    for source, documents in files:
        objs.extend(objects(source, documents, errors))
    errors.raise_if_any()
    return Reader(Cluster(objs)).desired()
