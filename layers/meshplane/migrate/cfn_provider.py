"""The custom resource provider behind `Custom::Meshplane<Type>`: App Mesh's CloudFormation lifecycle.

The `Meshplane` macro turns each `AWS::AppMesh::<Type>` of a stack into
`Custom::Meshplane<Type>` with this provider as its ServiceToken and the same
properties, which map onto the API as `meshplane import` maps them (`cfn_resources`).
The lifecycle is the one App Mesh's resource types had:
- Create: the resource is created; its physical id (what `Ref` returns) is its ARN and
  its data (`Fn::GetAtt`) are `Arn`, `Uid`, `MeshName`, `MeshOwner`, `ResourceOwner` and
  its names.  A name left out is generated from the logical id, as CloudFormation does.
  A resource of that name that already has exactly this spec (`meshplane import` made it
  from the same definitions) is adopted instead; one with another spec is a conflict.
- ACM listener certificates: the API lets only a caller allowed to export a certificate
  name it, and a request does not say who deployed the stack, so the provider never puts a
  new one on a listener; it adopts resources that carry it (`_refuse_new_certificates`).
- Update: a change of a create-only property (the mesh, the resource's or its parent's
  name, `MeshOwner`) replaces the resource: a new one is created and gets a new physical
  id, and CloudFormation then deletes the old one.  Anything else updates the spec (only
  if it differs) and makes the tags the template's.
- Delete: the resource is deleted; one already gone, or never created, is success.
  CloudFormation may delete a mesh while its children go (when the template does not
  make them depend on it), so ResourceInUse is retried while time allows.
- Rollback is CloudFormation sending the old properties as an Update, or a Delete of
  the replacement: the same three operations.
Create calls carry the request id as client token, so a repeated request (Lambda's
own retry) creates nothing twice.  Every failure becomes a FAILED response with a reason.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from meshplane.migrate import appmesh, cfn_resources
from meshplane.migrate.cfn_macro import SUFFIX as MACRO_SUFFIX
from meshplane.migrate.cfn_response import Response
from meshplane.migrate.desired import Desired
from meshplane.migrate.errors import InvalidSource, Origin, SourceError
from meshplane.migrate.validate import compact, validate
from meshplane.model.acm_arns import CERTIFICATE, acm_refs
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store.kinds import KINDS

IN_USE_RETRY_SECONDS = 5.0
FAILED_PREFIX = "meshplane-not-created-"  # the physical id of a resource whose Create failed: nothing to delete
MAX_NAME = 255


@dataclass(frozen=True)
class Request:
    """The parts of a custom resource request the provider reads."""

    request_type: str
    kind: Kind
    logical_id: str
    request_id: str
    stack_id: str
    properties: Mapping[str, Any]
    old_properties: Mapping[str, Any] | None
    physical_id: str | None

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> Request:
        resource_type = str(event.get("ResourceType", ""))
        kind = cfn_resources.kind_of_type(resource_type)
        if kind is None or not resource_type.startswith(cfn_resources.CUSTOM_PREFIX):
            raise SourceError(None, "ResourceType", f"{resource_type!r} is not a Custom::Meshplane<Type> of "
                                                    f"{', '.join(sorted(cfn_resources.TYPES))}")
        request_type = str(event.get("RequestType", ""))
        if request_type not in ("Create", "Update", "Delete"):
            raise SourceError(None, "RequestType", f"{request_type!r} is not Create, Update or Delete")
        return cls(request_type, kind, str(event.get("LogicalResourceId", "")), str(event.get("RequestId", "")),
                   str(event.get("StackId", "")), _properties(event.get("ResourceProperties")),
                   _properties(event.get("OldResourceProperties")) if "OldResourceProperties" in event else None,
                   event.get("PhysicalResourceId"))

    @property
    def token(self) -> str:
        """The client token of this request's writes: its id, which a retried delivery repeats."""
        return re.sub(r"[^A-Za-z0-9_-]", "", self.request_id)[:36] or "cloudformation"

    def generated_name(self) -> str:
        """A name for a resource the template leaves unnamed, stable for this request (CloudFormation's style)."""
        digest = hashlib.sha256(f"{self.stack_id}/{self.request_id}".encode()).hexdigest()[:12].upper()
        logical_id = self.logical_id.removesuffix(MACRO_SUFFIX)  # the template's own id, before the macro's
        base = re.sub(r"[^A-Za-z0-9_.-]", "", logical_id) or "resource"
        return f"{base[:MAX_NAME - 13]}-{digest}"


class Provider:
    """Runs one request against an `appmesh` client (the API in process, in Lambda)."""

    def __init__(self, client: Any, deadline: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.deadline = deadline or (lambda: float("inf"))  # seconds left before the response is due
        self.sleep = sleep

    def handle(self, event: Mapping[str, Any]) -> Response:
        """The response to `event`; never raises: every failure is a FAILED response naming its cause."""
        physical = event.get("PhysicalResourceId") or f"{FAILED_PREFIX}{event.get('RequestId', '')}"
        try:
            request = Request.parse(event)
            run: Callable[[Request], Response] = getattr(self, request.request_type.lower())
            return run(request)
        except InvalidSource as invalid:
            return Response("FAILED", physical, reason="; ".join(str(e) for e in invalid.errors))
        except SourceError as error:
            return Response("FAILED", physical, reason=str(error))
        except Exception as exc:  # the API's refusal, or anything unexpected: CloudFormation must hear of it
            return Response("FAILED", physical, reason=appmesh.error_message(exc))

    # --- the three request types ---------------------------------------------------------------

    def create(self, request: Request) -> Response:
        return self._create(request, self._desired(request, request.properties, request.generated_name()))

    def _create(self, request: Request, desired: Desired) -> Response:
        """Create `desired`, or adopt the resource of that name if it already has exactly this spec.

        Adoption is how a deployed stack moves on: `meshplane import` made the resources, then
        the stack with `Transform: [Meshplane]` declares them again.  A resource of that name with
        another spec is App Mesh's ConflictException, as before.
        """
        if _listener_certificates(desired.spec):  # only adopted: see `_refuse_new_certificates`
            data = appmesh.describe(self.client, desired.key, desired.mesh_owner)
            if data is None:
                _refuse_new_certificates(desired.spec, {})  # raises: no resource carries them yet
            elif self._spec_of(request.kind, data) != desired.spec:
                raise SourceError(None, None, f"{desired.label} already exists with another spec")
            else:
                return self._adopted(request, desired, data)
        try:
            data = appmesh.create(self.client, desired, token=request.token)
        except Exception as exc:
            if appmesh.error_code(exc) != "ConflictException":
                raise
            data = appmesh.describe(self.client, desired.key, desired.mesh_owner)
            if data is None or self._spec_of(request.kind, data) != desired.spec:
                raise
            return self._adopted(request, desired, data)
        return self._success(request.kind, data)

    def _adopted(self, request: Request, desired: Desired, data: Mapping[str, Any]) -> Response:
        arn = data["metadata"]["arn"]
        appmesh.retag(self.client, arn, desired.tags or {}, appmesh.tags(self.client, arn))
        return self._success(request.kind, data)

    def update(self, request: Request) -> Response:
        current = _key_of_physical(request.physical_id, request.kind)
        if current is None:  # its Create failed: there is nothing to update, so make it
            return self.create(request)
        new = self._desired(request, request.properties, current.name if _unchanged_identity(request) else
                            request.generated_name())
        if new.key != current or not _unchanged_identity(request):
            return self.create_replacement(request, new)
        data = appmesh.describe(self.client, current, new.mesh_owner)
        if data is None:
            raise SourceError(None, "PhysicalResourceId", f"{new.label} no longer exists")
        current_spec = self._spec_of(request.kind, data)
        if current_spec != new.spec:
            _refuse_new_certificates(new.spec, current_spec)
            data = appmesh.update(self.client, new, token=request.token)
        arn = data["metadata"]["arn"]
        appmesh.retag(self.client, arn, new.tags or {}, appmesh.tags(self.client, arn))
        return self._success(request.kind, data)

    def create_replacement(self, request: Request, new: Desired) -> Response:
        return self._create(request, new)

    def delete(self, request: Request) -> Response:
        physical = request.physical_id or ""
        key = _key_of_physical(physical, request.kind)
        if key is None:
            return Response("SUCCESS", physical)  # a Create that failed left nothing
        owner = request.properties.get("MeshOwner") if request.kind is not Kind.MESH else None
        while True:
            try:
                appmesh.delete(self.client, key, owner or None)
                return Response("SUCCESS", physical)
            except Exception as exc:
                code = appmesh.error_code(exc)
                if code == "NotFoundException":
                    return Response("SUCCESS", physical)  # already gone: deleted is deleted
                if code != "ResourceInUseException" or self.deadline() < 2 * IN_USE_RETRY_SECONDS:
                    raise
            self.sleep(IN_USE_RETRY_SECONDS)

    # --- helpers --------------------------------------------------------------------------------

    def _desired(self, request: Request, properties: Mapping[str, Any], default_name: str) -> Desired:
        origin = Origin(request.stack_id.rsplit("/", 2)[-2] if "/" in request.stack_id else "stack",
                        request.logical_id)
        desired = cfn_resources.desired_from_properties(request.kind, properties, origin, default_name=default_name)
        (checked,) = validate([desired])
        return checked

    @staticmethod
    def _spec_of(kind: Kind, data: Mapping[str, Any]) -> dict[str, Any]:
        """A described spec in the form validation gives a Desired's, so the two compare as equal or not."""
        spec: dict[str, Any] = compact(KINDS[kind].spec.model_validate(data.get("spec") or {}).wire())
        return spec

    def _success(self, kind: Kind, data: Mapping[str, Any]) -> Response:
        return Response("SUCCESS", data["metadata"]["arn"], data=cfn_resources.attributes(kind, data))


def _listener_certificates(spec: Mapping[str, Any]) -> dict[str, str]:
    """The ACM certificates a spec puts on listeners, by ARN: where each is named."""
    return {ref.arn: ref.field for ref in acm_refs(spec) if ref.kind == CERTIFICATE}


def _refuse_new_certificates(spec: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Refuse an ACM listener certificate the resource does not already carry.

    The pipeline exports such a certificate, private key included, into the proxy's
    snapshot, so the API lets only a caller with `acm:ExportCertificate` on it name it.
    A custom resource request does not say who deployed the stack, so the provider cannot
    ask: the certificate is set through the API (`meshplane import`, any App Mesh client),
    and the stack then adopts the resource as it is.
    """
    added = sorted(set(_listener_certificates(spec)) - set(_listener_certificates(current)))
    if added:
        where = _listener_certificates(spec)[added[0]]
        raise SourceError(None, f"Spec.{where}", f"{added[0]}: an ACM listener certificate is set through the "
                                                 "API, where the caller's acm:ExportCertificate is checked "
                                                 "(meshplane import or any App Mesh client); the stack then adopts "
                                                 "the resource")


def _properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SourceError(None, "ResourceProperties", "must be an object")
    return {k: v for k, v in value.items() if k != "ServiceToken"}


def _key_of_physical(physical_id: str | None, kind: Kind) -> ResourceKey | None:
    """The resource a physical id (an App Mesh ARN) names; None for the id of a Create that failed."""
    if not physical_id or physical_id.startswith(FAILED_PREFIX):
        return None
    try:
        key = ResourceKey.from_arn(physical_id)
    except ValueError:
        return None  # not an App Mesh ARN: no resource of this provider
    if key.kind is not kind:
        raise SourceError(None, "PhysicalResourceId", f"{physical_id!r} is not a {kind.value}")
    return key


def _unchanged_identity(request: Request) -> bool:
    """Whether the create-only properties other than the resource's own name are the same in both versions.

    A resource the template leaves unnamed keeps its generated name across updates, and gets
    a new one when a create-only property changes, so CloudFormation sees a new physical id.
    """
    props, before = request.properties, request.old_properties or {}
    info = KINDS[request.kind]
    fields = ["MeshName", "MeshOwner", *([cfn_resources.pascal(info.parent_field)] if info.parent_field else [])]
    return all(props.get(f) == before.get(f) for f in fields)
