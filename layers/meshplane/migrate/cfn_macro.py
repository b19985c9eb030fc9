"""The `Meshplane` CloudFormation macro: a stack's `AWS::AppMesh::*` resources become meshplane's.

`Transform: [Meshplane]` in an App Mesh stack hands its template to this function.  Each
`AWS::AppMesh::<Type>` becomes `Custom::Meshplane<Type>`, whose ServiceToken is the stack's
custom resource provider, with every property, condition, dependency and policy kept.
`Ref` then returns the provider's physical id (the ARN, as App Mesh's types did) and
`Fn::GetAtt` its data (`Arn`, `Uid`, `MeshName`, ...), so the template reads as before.

CloudFormation refuses to change the type of a deployed resource ("Update of resource
type is not permitted"), so each such resource also gets a new logical id, its own with
`Meshplane` appended, and every `Ref`, `Fn::GetAtt`, `Fn::Sub` variable and `DependsOn`
that names it is rewritten to match.  Adding the transform to a deployed stack then
creates the meshplane resources (adopting those `meshplane import` made from the same
definitions) and, in the update's cleanup phase, deletes the `AWS::AppMesh::*` resources
from App Mesh.  Nothing else changes; an `AWS::AppMesh::*` type meshplane does not know
fails the transform with its name.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from meshplane.migrate import cfn_resources

SUFFIX = "Meshplane"
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class MacroError(ValueError):
    """A template the macro refuses; CloudFormation shows the message as the transform's failure."""


def transform(fragment: Mapping[str, Any], provider_arn: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The transformed template and the logical ids it renamed (old -> new)."""
    if not provider_arn:
        raise MacroError("the macro has no provider ARN (MESHPLANE_PROVIDER_ARN)")
    template = copy.deepcopy(dict(fragment))
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        raise MacroError("the template has no Resources section (Transform: [Meshplane] goes at the top level)")
    renamed: dict[str, str] = {}
    for logical_id, resource in resources.items():
        resource_type = resource.get("Type") if isinstance(resource, dict) else None
        if not isinstance(resource_type, str) or not resource_type.startswith(cfn_resources.TYPE_PREFIX):
            continue
        kind = cfn_resources.kind_of_type(resource_type)
        if kind is None:
            raise MacroError(f"{logical_id}: {resource_type} is not an App Mesh type meshplane knows "
                             f"({', '.join(sorted(cfn_resources.TYPES))})")
        properties = resource.get("Properties") or {}
        if not isinstance(properties, dict):
            raise MacroError(f"{logical_id}: Properties must be an object")
        if "ServiceToken" in properties:
            raise MacroError(f"{logical_id}: ServiceToken is not a property of {resource_type}")
        resource["Type"] = cfn_resources.custom_type(kind)
        resource["Properties"] = {"ServiceToken": provider_arn, **properties}
        renamed[logical_id] = f"{logical_id}{SUFFIX}"
    clashes = sorted(new for new in renamed.values() if new in resources)
    if clashes:
        raise MacroError(f"{clashes[0]}: the template already has this logical id, which the macro gives the "
                         f"App Mesh resource {clashes[0][:-len(SUFFIX)]}")
    template["Resources"] = {renamed.get(lid, lid): resource for lid, resource in resources.items()}
    return _renamed(template, renamed), renamed


def _renamed(node: Any, names: Mapping[str, str]) -> Any:
    """`node` with every reference to a renamed logical id rewritten."""
    if isinstance(node, list):
        return [_renamed(item, names) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref" and isinstance(value, str):
            return {"Ref": names.get(value, value)}
        if key == "Fn::GetAtt":
            return {"Fn::GetAtt": _get_att(value, names)}
        if key == "Fn::Sub":
            return {"Fn::Sub": _sub(value, names)}
    out = {}
    for key, value in node.items():
        if key == "DependsOn":
            out[key] = [names.get(d, d) for d in value] if isinstance(value, list) else names.get(value, value)
        else:
            out[key] = _renamed(value, names)
    return out


def _get_att(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        resource, dot, attribute = value.partition(".")
        return f"{names.get(resource, resource)}{dot}{attribute}"
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [names.get(value[0], value[0]), *_renamed(value[1:], names)]
    return _renamed(value, names)


def _sub(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _sub_text(value, names, frozenset())
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], dict):
        variables = frozenset(value[1])
        return [_sub_text(value[0], names, variables), _renamed(value[1], names)]
    return _renamed(value, names)


def _sub_text(text: str, names: Mapping[str, str], variables: frozenset[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        reference = match[1]
        if reference in variables:
            return match[0]
        resource, dot, attribute = reference.partition(".")
        return "${" + names.get(resource, resource) + dot + attribute + "}"

    return SUB_VARIABLE.sub(replace, text)


def answer(event: Mapping[str, Any], provider_arn: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The macro's response to CloudFormation's request `event`, and what it renamed."""
    request_id = event.get("requestId", "")
    try:
        fragment, renamed = transform(event.get("fragment") or {}, provider_arn)
    except MacroError as error:
        return {"requestId": request_id, "status": "failure", "errorMessage": str(error),
                "fragment": event.get("fragment")}, {}
    return {"requestId": request_id, "status": "success", "fragment": fragment}, renamed
