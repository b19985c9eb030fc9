"""CloudFormation templates (YAML or JSON): every `AWS::AppMesh::*` resource, its intrinsics resolved offline.

A template is resolved as CloudFormation would resolve it for one stack: the given
parameters over their defaults, the pseudo parameters of the target account and region,
`Conditions` deciding which resources exist.  `Ref` of an App Mesh resource is its ARN and
`Fn::GetAtt` offers its names and owners, as App Mesh returned them.  Values only a
deployment knows come from the caller: exports (`import_values`) and other resources'
physical ids and attributes (`resource_values`, keyed `LogicalId` or `LogicalId.Attribute`).
A template already transformed by the `Meshplane` macro (`Custom::Meshplane<Type>`) reads
the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from meshplane.config import DEFAULT_ACCOUNT
from meshplane.migrate import cfn_resources
from meshplane.migrate.desired import Desired
from meshplane.migrate.errors import Collector, Origin, SourceError
from meshplane.migrate.intrinsics import Context, Resolver, parameter_values
from meshplane.model.ids import DEFAULT_PARTITION, Kind, ResourceKey


@dataclass(frozen=True)
class StackOptions:
    """What CloudFormation would know about the stack the template is deployed as."""

    parameters: Mapping[str, str] = field(default_factory=dict)
    import_values: Mapping[str, str] = field(default_factory=dict)
    resource_values: Mapping[str, str] = field(default_factory=dict)
    region: str = "us-east-1"
    account: str = DEFAULT_ACCOUNT
    partition: str = DEFAULT_PARTITION
    stack_name: str = "meshplane-import"

    def pseudo(self) -> dict[str, Any]:
        suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:stack/"
                            f"{self.stack_name}/00000000-0000-0000-0000-000000000000",
            "AWS::URLSuffix": suffix,
            "AWS::NotificationARNs": [],
        }


def kind_of(resource_type: Any) -> Kind | None:
    """The App Mesh kind of `AWS::AppMesh::<Type>` or `Custom::Meshplane<Type>`, else None."""
    return cfn_resources.kind_of_type(resource_type) if isinstance(resource_type, str) else None


def is_template(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("Resources"), dict)


class Template:
    """One template resolved for one stack; `desired()` lists its App Mesh resources."""

    def __init__(self, source: str, document: Mapping[str, Any], options: StackOptions) -> None:
        self.source, self.document, self.options = source, document, options
        self.resources: Mapping[str, Any] = document.get("Resources") or {}
        self._identities: dict[str, tuple[ResourceKey, str | None]] = {}
        self._resolving: set[str] = set()
        declared = document.get("Parameters") or {}
        if not isinstance(declared, dict):
            raise SourceError(Origin(source, "Parameters"), None, "must be an object")
        self.resolver = Resolver(Context(
            parameters=parameter_values(declared, options.parameters),
            pseudo=options.pseudo(),
            conditions=document.get("Conditions") or {},
            mappings=document.get("Mappings") or {},
            resource_ref=self._ref,
            resource_attribute=self._attribute,
            import_value=self._import_value,
        ))

    def desired(self) -> list[Desired]:
        errors = Collector()
        found: list[Desired] = []
        for logical_id, resource in self.resources.items():
            origin = Origin(self.source, logical_id)
            resource_type = resource.get("Type") if isinstance(resource, dict) else None
            if isinstance(resource_type, str) and resource_type.startswith(cfn_resources.TYPE_PREFIX) \
                    and kind_of(resource_type) is None:
                supported = ", ".join(sorted(cfn_resources.TYPES))
                errors.errors.append(SourceError(origin, "Type", f"{resource_type} is not an App Mesh resource "
                                                                 f"type meshplane knows ({supported})"))
                continue
            if kind_of(resource_type) is None:
                continue
            desired = errors.run(origin, partial(self._desired, logical_id))
            if desired is not None:
                found.append(desired)
        errors.raise_if_any()
        return found

    # --- one resource ------------------------------------------------------------------------

    def _exists(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        if condition is None:
            return True
        return self.resolver.condition(str(condition), "Condition")

    def _desired(self, logical_id: str) -> Desired | None:
        if not self._exists(logical_id):
            return None
        resource = self.resources[logical_id]
        properties = self.resolver.resolve(resource.get("Properties") or {}, "Properties")
        if isinstance(properties, dict):
            properties.pop("ServiceToken", None)  # a macro-transformed template's provider
        kind = kind_of(resource["Type"])
        assert kind is not None
        return cfn_resources.desired_from_properties(kind, properties, Origin(self.source, logical_id),
                                                     prefix="Properties.")

    # --- what intrinsics read -----------------------------------------------------------------

    def _supplied(self, key: str) -> str | None:
        return self.options.resource_values.get(key)

    def _identity(self, logical_id: str, path: str) -> tuple[ResourceKey, str | None]:
        """The key and mesh owner of an App Mesh resource, from its name properties alone (so a resource
        whose spec is invalid can still be referenced, and is reported once, by itself)."""
        if logical_id not in self.resources:
            raise SourceError(None, path, f"{logical_id!r} is neither a parameter nor a resource of the template")
        resource = self.resources[logical_id]
        resource_type = resource.get("Type") if isinstance(resource, dict) else None
        kind = kind_of(resource_type)
        if kind is None:
            if isinstance(resource_type, str) and resource_type.startswith(cfn_resources.TYPE_PREFIX):
                raise SourceError(None, path, f"refers to {logical_id}, whose type {resource_type} is not supported")
            raise SourceError(None, path, f"{logical_id} ({resource_type}) is known only once deployed: pass "
                                          f"--resource-value {logical_id}=VALUE (Ref) or "
                                          f"--resource-value {logical_id}.ATTRIBUTE=VALUE (Fn::GetAtt)")
        if logical_id in self._identities:
            return self._identities[logical_id]
        if not self._exists(logical_id):
            raise SourceError(None, path, f"refers to {logical_id}, whose Condition is false")
        if logical_id in self._resolving:
            raise SourceError(None, path, f"{logical_id} refers to itself through Ref or Fn::GetAtt")
        self._resolving.add(logical_id)
        try:
            properties = resource.get("Properties") or {}
            wanted = ["MeshName", "MeshOwner", cfn_resources.name_property(kind), cfn_resources.parent_property(kind)]
            names = {p: self.resolver.resolve(properties[p], f"Properties.{p}") for p in wanted
                     if p and isinstance(properties, dict) and p in properties}
            origin = Origin(self.source, logical_id)
            identity = cfn_resources.identity(kind, names, origin)
        except SourceError:
            raise SourceError(None, path, f"refers to {logical_id}, whose names are invalid (reported there)") from None
        finally:
            self._resolving.discard(logical_id)
        self._identities[logical_id] = identity
        return identity

    def _ref(self, logical_id: str, path: str) -> Any:
        supplied = self._supplied(logical_id)
        if supplied is not None:
            return supplied
        key, _ = self._identity(logical_id, path)
        o = self.options
        return key.arn(o.region, o.account, partition=o.partition)  # Ref of an App Mesh resource: its ARN

    def _attribute(self, logical_id: str, attribute: str, path: str) -> Any:
        supplied = self._supplied(f"{logical_id}.{attribute}")
        if supplied is not None:
            return supplied
        key, owner = self._identity(logical_id, path)
        if attribute == "Uid":
            raise SourceError(None, path, f"{logical_id}.Uid is assigned by the API when it creates the resource; "
                                          f"pass --resource-value {logical_id}.Uid=VALUE")
        o = self.options
        values = {
            "Arn": key.arn(o.region, o.account, partition=o.partition),
            "MeshName": key.mesh,
            "MeshOwner": owner or o.account,
            "ResourceOwner": o.account,
        }
        if key.kind is not Kind.MESH:
            values[cfn_resources.name_property(key.kind)] = key.name
        parent = cfn_resources.parent_property(key.kind)
        if parent and key.parent is not None:
            values[parent] = key.parent
        if attribute not in values:
            raise SourceError(None, path, f"{logical_id} has no attribute {attribute!r}; it has "
                                          f"{', '.join(cfn_resources.attribute_names(key.kind))}")
        return values[attribute]

    def _import_value(self, name: str, path: str) -> Any:
        if name not in self.options.import_values:
            raise SourceError(None, path, f"export {name!r} is not in the supplied exports: pass "
                                          f"--import-value {name}=VALUE")
        return self.options.import_values[name]


def load(source: str, document: Mapping[str, Any], options: StackOptions) -> list[Desired]:
    """The App Mesh resources of one template; InvalidSource lists every problem found."""
    try:
        template = Template(source, document, options)
    except SourceError as error:
        raise SourceError(error.origin or Origin(source, "Parameters"), error.field, error.message) from None
    return template.desired()
