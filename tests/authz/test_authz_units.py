"""The pure parts of API authorization: App Mesh's action/resource table, the decision cache, fail-closed paths."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from meshplane.api import permissions
from meshplane.api.authz import Authorizer, TtlCache
from meshplane.api.routes import operations
from meshplane.config import Settings
from meshplane.model import shapes
from meshplane.model.acm_arns import AUTHORITY, CERTIFICATE, Home, acm_refs
from meshplane.model.ids import Kind, ResourceKey
from meshplane.pipeline.acm import AcmSecrets, ExportedCertificate
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.store.errors import Forbidden

ACCOUNT, REGION = "123456789012", "us-east-1"
USER = f"arn:aws:iam::{ACCOUNT}:user/dev/alice"


def arn(key: ResourceKey) -> str:
    return key.arn(REGION, ACCOUNT)


def arn_of(path: str) -> str:
    return f"arn:aws:appmesh:{REGION}:{ACCOUNT}:{path}"


def bound(operation: str, **values: Any) -> Any:
    op = next(o for o in operations() if o.name == operation)
    return op.input_model.model_validate(values)


def checks(operation: str, **values: Any) -> list[tuple[str, str]]:
    return [(c.action, c.resource) for c in permissions.checks(operation, bound(operation, **values), arn)]


# --- the action and resource of every operation ---------------------------------------------


LISTENER = {"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}]}


@pytest.mark.parametrize(("operation", "values", "resource"), [
    ("ListMeshes", {}, "*"),
    ("CreateMesh", {"meshName": "m"}, "mesh/m"),
    ("DescribeMesh", {"meshName": "m"}, "mesh/m"),
    ("ListVirtualNodes", {"meshName": "m"}, "mesh/m"),
    ("ListVirtualServices", {"meshName": "m"}, "mesh/m"),
    ("ListVirtualRouters", {"meshName": "m"}, "mesh/m"),
    ("ListVirtualGateways", {"meshName": "m"}, "mesh/m"),
    ("ListRoutes", {"meshName": "m", "virtualRouterName": "r"}, "mesh/m/virtualRouter/r"),
    ("ListGatewayRoutes", {"meshName": "m", "virtualGatewayName": "g"}, "mesh/m/virtualGateway/g"),
    ("DescribeRoute", {"meshName": "m", "virtualRouterName": "r", "routeName": "x"},
     "mesh/m/virtualRouter/r/route/x"),
    ("DeleteGatewayRoute", {"meshName": "m", "virtualGatewayName": "g", "gatewayRouteName": "x"},
     "mesh/m/virtualGateway/g/gatewayRoute/x"),
    ("DeleteVirtualService", {"meshName": "m", "virtualServiceName": "s.local"}, "mesh/m/virtualService/s.local"),
    ("UpdateVirtualRouter", {"meshName": "m", "virtualRouterName": "r", "spec": LISTENER},
     "mesh/m/virtualRouter/r"),
])
def test_each_operation_is_its_app_mesh_action_on_its_resource(operation: str, values: dict[str, Any],
                                                             resource: str) -> None:
    expected = resource if resource == "*" else arn_of(resource)
    assert checks(operation, **values) == [(f"appmesh:{operation}", expected)]


def test_every_operation_of_the_service_model_has_checks() -> None:
    for op in operations():
        assert op.name in permissions.TAG_OPERATIONS or permissions.kind_of(op.name)


def test_tag_operations_act_on_the_named_arn_with_tag_keys() -> None:
    node = arn_of("mesh/m/virtualNode/n")
    tag = permissions.checks("TagResource", bound("TagResource", resourceArn=node,
                                                  tags=[{"key": "team", "value": "red"}]), arn)
    assert [(c.action, c.resource, dict(c.request_tags), c.tag_keys) for c in tag] == [
        ("appmesh:TagResource", node, {"team": "red"}, ("team",))]
    assert tag[0].key == ResourceKey(Kind.VIRTUAL_NODE, "m", "n")
    untag = permissions.checks("UntagResource", bound("UntagResource", resourceArn=node, tagKeys=["a", "b"]), arn)
    assert [(c.action, c.tag_keys, dict(c.request_tags)) for c in untag] == [("appmesh:UntagResource", ("a", "b"), {})]
    foreign = arn_of("mesh/m/virtualNode/n").replace(ACCOUNT, "999999999999")
    listed = permissions.checks("ListTagsForResource", bound("ListTagsForResource", resourceArn=foreign), arn)
    assert [(c.resource, c.key) for c in listed] == [(foreign, None)]  # never another account's stored tags


def test_writes_are_checked_on_the_resources_they_name_and_tagged_creates_on_tag_resource() -> None:
    route = {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [
        {"virtualNode": "b", "weight": 1}, {"virtualNode": "a", "weight": 1}]}}}
    assert checks("CreateRoute", meshName="m", virtualRouterName="r", routeName="x", spec=route,
                  tags=[{"key": "k", "value": "v"}]) == [
        ("appmesh:CreateRoute", arn_of("mesh/m/virtualRouter/r/route/x")),
        ("appmesh:CreateRoute", arn_of("mesh/m/virtualNode/a")),
        ("appmesh:CreateRoute", arn_of("mesh/m/virtualNode/b")),
        ("appmesh:TagResource", arn_of("mesh/m/virtualRouter/r/route/x")),
    ]
    service = {"provider": {"virtualRouter": {"virtualRouterName": "r"}}}
    assert checks("UpdateVirtualService", meshName="m", virtualServiceName="s", spec=service) == [
        ("appmesh:UpdateVirtualService", arn_of("mesh/m/virtualService/s")),
        ("appmesh:UpdateVirtualService", arn_of("mesh/m/virtualRouter/r")),
    ]
    node = {**LISTENER, "backends": [{"virtualService": {"virtualServiceName": "db.local"}}]}
    assert checks("CreateVirtualNode", meshName="m", virtualNodeName="n", spec=node)[1] == (
        "appmesh:CreateVirtualNode", arn_of("mesh/m/virtualService/db.local"))
    gateway_route = {"httpRoute": {"match": {"prefix": "/"},
                                   "action": {"target": {"virtualService": {"virtualServiceName": "s"}}}}}
    assert checks("CreateGatewayRoute", meshName="m", virtualGatewayName="g", gatewayRouteName="x",
                  spec=gateway_route)[1] == ("appmesh:CreateGatewayRoute", arn_of("mesh/m/virtualService/s"))


# --- the cache ------------------------------------------------------------------------------


def test_the_cache_expires_and_stays_bounded() -> None:
    now = [0.0]
    cache: TtlCache[str] = TtlCache(10.0, 2, clock=lambda: now[0])
    cache.put("a", "allowed")
    now[0] = 9.9
    assert cache.get("a") == "allowed"
    now[0] = 10.0
    assert cache.get("a") is None
    for key in ("x", "y", "z"):
        cache.put(key, key)
    assert [cache.get(k) for k in ("x", "y", "z")] == [None, "y", "z"]


# --- the authorizer with a stand-in IAM -----------------------------------------------------


class FakeIam:
    """Answers SimulatePrincipalPolicy from a table and counts the calls."""

    def __init__(self, decisions: dict[str, str] | None = None, failure: Exception | None = None) -> None:
        self.decisions, self.failure = decisions or {}, failure
        self.calls: list[dict[str, Any]] = []

    def simulate_principal_policy(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        if self.failure is not None:
            raise self.failure
        action = request["ActionNames"][0]
        return {"EvaluationResults": [{"EvalActionName": action, "EvalDecision": self.decisions.get(action,
                                                                                                   "implicitDeny")}]}

    def list_user_tags(self, **_: Any) -> dict[str, Any]:
        return {"Tags": [{"Key": "team", "Value": "red"}]}

    def get_role(self, RoleName: str) -> dict[str, Any]:
        return {"Role": {"Arn": f"arn:aws:iam::{ACCOUNT}:role/service/{RoleName}", "Tags": []}}


class FakeStore:
    region, account, partition = REGION, ACCOUNT, "aws"

    def get_item(self, key: ResourceKey) -> None:
        return None


def event(user_arn: str | None = USER, account: str = ACCOUNT) -> dict[str, Any]:
    identity = {"userArn": user_arn, "accountId": account, "caller": "AIDAEXAMPLE", "sourceIp": "10.0.0.1"}
    return {"requestContext": {"identity": identity if user_arn else {}}}


def authorize(authorizer: Authorizer, ev: dict[str, Any], operation: str = "DescribeMesh") -> None:
    authorizer.authorize(ev, operation, bound(operation, meshName="m"))


def test_an_allowed_decision_is_cached_with_the_principals_context() -> None:
    now = [0.0]
    iam = FakeIam({"appmesh:DescribeMesh": "allowed"})
    authorizer = Authorizer(iam, FakeStore(), seconds=15, clock=lambda: now[0])
    authorize(authorizer, event())
    authorize(authorizer, event())
    assert len(iam.calls) == 1
    call = iam.calls[0]
    assert call["PolicySourceArn"] == USER and call["ResourceArns"] == [arn_of("mesh/m")]
    context = {e["ContextKeyName"]: (e["ContextKeyValues"], e["ContextKeyType"]) for e in call["ContextEntries"]}
    assert context["aws:username"] == (["alice"], "string")
    assert context["aws:PrincipalTag/team"] == (["red"], "string")
    assert context["aws:SourceIp"] == (["10.0.0.1"], "ip")
    now[0] = 15.0
    authorize(authorizer, event())
    assert len(iam.calls) == 2  # the lifetime is bounded


def test_a_session_is_simulated_as_its_role_with_its_path() -> None:
    iam = FakeIam({"appmesh:DescribeMesh": "allowed"})
    authorize(Authorizer(iam, FakeStore()), event(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/task-1"))
    assert iam.calls[0]["PolicySourceArn"] == f"arn:aws:iam::{ACCOUNT}:role/service/app"


@pytest.mark.parametrize(("ev", "why"), [
    (event(None), "Missing authentication"),
    (event(account="999999999999", user_arn="arn:aws:iam::999999999999:user/x"), "meshes shared from other"),
    (event(f"arn:aws:sts::{ACCOUNT}:federated-user/bob"), "federated users are not"),
    (event("not-an-arn"), "malformed"),
])
def test_callers_that_cannot_be_simulated_are_refused(ev: dict[str, Any], why: str) -> None:
    iam = FakeIam({"appmesh:DescribeMesh": "allowed"})
    with pytest.raises(Forbidden) as refused:
        authorize(Authorizer(iam, FakeStore()), ev)
    assert why in refused.value.message
    assert iam.calls == []


def test_the_account_root_is_not_bound_by_policies() -> None:
    iam = FakeIam()
    authorize(Authorizer(iam, FakeStore()), event(f"arn:aws:iam::{ACCOUNT}:root"))
    assert iam.calls == []


@pytest.mark.parametrize("failure", [
    ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "SimulatePrincipalPolicy"),
    EndpointConnectionError(endpoint_url="https://iam.amazonaws.com"),
])
def test_iam_failures_deny_with_a_reason_and_are_not_cached(failure: Exception) -> None:
    iam = FakeIam(failure=failure)
    authorizer = Authorizer(iam, FakeStore())
    for _ in range(2):
        with pytest.raises(Forbidden) as refused:
            authorize(authorizer, event())
        assert refused.value.message.startswith(f"User: {USER} is not authorized to perform: appmesh:DescribeMesh")
        assert "denied" in refused.value.message
    assert len(iam.calls) == 2


def test_settings_take_the_authorization_mode_and_refuse_unknown_ones() -> None:
    assert Settings.from_env({}).api_authz == "off"
    assert Settings.from_env({"MESHPLANE_API_AUTHZ": "IAM"}).api_authz == "iam"
    with pytest.raises(ValueError, match="MESHPLANE_API_AUTHZ"):
        Settings.from_env({"MESHPLANE_API_AUTHZ": "yes"})


# --- ACM ARNs -------------------------------------------------------------------------------

HOME = Home("aws", REGION, ACCOUNT)
CERT = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc-1"
CA = f"arn:aws:acm-pca:{REGION}:{ACCOUNT}:certificate-authority/ca-1"


def test_acm_refs_names_every_certificate_and_authority_with_its_field() -> None:
    spec = shapes.VirtualGatewaySpec.model_validate({
        "listeners": [{"portMapping": {"port": 443, "protocol": "http"},
                       "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": CERT}}}}],
        "backendDefaults": {"clientPolicy": {"tls": {"validation": {"trust": {"acm": {
            "certificateAuthorityArns": [CA]}}}}}},
    })
    assert [(r.field, r.arn, r.kind) for r in acm_refs(spec)] == [
        ("backendDefaults.clientPolicy.tls.validation.trust.acm.certificateAuthorityArns[0]", CA, AUTHORITY),
        ("listeners[0].tls.certificate.acm.certificateArn", CERT, CERTIFICATE),
    ]


@pytest.mark.parametrize(("arn_text", "kind", "accepted"), [
    (CERT, CERTIFICATE, True),
    (CA, AUTHORITY, True),
    (CERT.replace(ACCOUNT, "999999999999"), CERTIFICATE, False),
    (CERT.replace(REGION, "eu-west-1"), CERTIFICATE, False),
    (CERT.replace("arn:aws:", "arn:aws-us-gov:"), CERTIFICATE, False),
    (CA, CERTIFICATE, False),
    (CERT + "/extra", CERTIFICATE, False),
    (CERT.replace("abc-1", "*"), CERTIFICATE, False),
])
def test_home_accepts_only_its_own_acm_resources(arn_text: str, kind: str, accepted: bool) -> None:
    assert (HOME.refusal(arn_text, kind) is None) is accepted


class RecordingAcm:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def export_certificate(self, arn: str, passphrase: bytes) -> ExportedCertificate:
        self.asked.append(arn)
        return ExportedCertificate("CERT", "", "KEY")

    def certificate_stamp(self, arn: str) -> str:
        self.asked.append(arn)
        return "1"

    def authority_certificate(self, arn: str) -> str:
        self.asked.append(arn)
        return "CA"


def tls_snapshot(certificate: str) -> Snapshot:
    """A proxy whose listener serves `certificate` as an ADS secret, as the translator names it."""
    context = tls_pb2.DownstreamTlsContext()
    context.common_tls_context.tls_certificate_sds_secret_configs.add(name=certificate).sds_config.ads.SetInParent()
    listener = listener_pb2.Listener(name="ingress")
    chain = listener.filter_chains.add()
    chain.transport_socket.name = "envoy.transport_sockets.tls"
    chain.transport_socket.typed_config.Pack(context)
    return Snapshot.build("mesh/m/virtualNode/n", {XdsType.LISTENERS: {"ingress": listener}})


@pytest.mark.parametrize("foreign", [CERT.replace(ACCOUNT, "999999999999"), CERT.replace(REGION, "eu-west-1")])
def test_the_pipeline_never_asks_acm_for_a_foreign_certificate(foreign: str) -> None:
    source = RecordingAcm()
    resolved = AcmSecrets(source, home=HOME).resolve(tls_snapshot(foreign), lambda: None, {})
    assert source.asked == []
    assert len(resolved.problems) == 1 and "not exported" in resolved.problems[0]
    assert resolved.snapshot.of(XdsType.SECRETS) == {}
    own = AcmSecrets(source, home=HOME).resolve(tls_snapshot(CERT), lambda: None, {})
    assert own.problems == () and set(own.snapshot.of(XdsType.SECRETS)) == {CERT}
