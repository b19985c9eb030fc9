"""No confused deputy: naming an ACM certificate for a listener needs the caller's own export permission.

The recompute role may export every certificate of the account into a proxy's snapshot,
so the API asks at write time whether the caller may `acm:ExportCertificate` it, as App
Mesh asked of the proxy's role.  ACM and ACM PCA ARNs of another account, region or
partition are refused at write time whatever the caller may do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from meshplane.model.ids import Kind, ResourceKey

from authz.conftest import ALL_APPMESH, AuthzStack, node_spec, start_stack
from authz.iamlab import ACCOUNT, REGION, IamLab

Unique = Callable[[str], str]
CERT = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"
OTHER_CERT = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/99999999-2222-3333-4444-555555555555"
FIELD = "spec.listeners[0].tls.certificate.acm.certificateArn"


def tls(certificate: str) -> dict[str, Any]:
    return {"mode": "STRICT", "certificate": {"acm": {"certificateArn": certificate}}}


def gateway_spec(certificate: str) -> dict[str, Any]:
    return {"listeners": [{"portMapping": {"port": 8443, "protocol": "http"}, "tls": tls(certificate)}]}


@pytest.fixture(scope="module")
def open_stack(lab: IamLab) -> Iterator[AuthzStack]:
    """Authentication on, IAM authorization off: the write-time ARN checks hold regardless."""
    started, server = start_stack(lab, lambda store: None)
    yield started
    server.shutdown()
    server.server_close()


def mesh(stack: AuthzStack, unique: Unique) -> str:
    name = unique("acm")
    stack.appmesh(stack.admin).create_mesh(meshName=name)
    return name


def refused(call: Callable[[], Any], client: Any) -> str:
    with pytest.raises(client.exceptions.ForbiddenException) as denied:
        call()
    return str(denied.value.response["Error"]["Message"])


def test_a_caller_who_may_not_export_the_certificate_cannot_name_it(stack: AuthzStack, unique: Unique) -> None:
    name = mesh(stack, unique)
    caller = stack.lab.user(ALL_APPMESH)  # every App Mesh action, no ACM at all
    client = stack.appmesh(caller)
    message = refused(lambda: client.create_virtual_node(meshName=name, virtualNodeName="stolen",
                                                         spec=node_spec(tls=tls(CERT))), client)
    assert message.startswith(f"User: {caller.arn} is not authorized to perform: acm:ExportCertificate on "
                              f"resource: {CERT} ({FIELD})")
    assert stack.store.get_item(ResourceKey(Kind.VIRTUAL_NODE, name, "stolen")) is None  # nothing stored to export
    message = refused(lambda: client.create_virtual_gateway(meshName=name, virtualGatewayName="stolen",
                                                            spec=gateway_spec(CERT)), client)
    assert f"acm:ExportCertificate on resource: {CERT}" in message
    assert stack.store.get_item(ResourceKey(Kind.VIRTUAL_GATEWAY, name, "stolen")) is None


def test_the_export_permission_is_per_certificate(stack: AuthzStack, unique: Unique) -> None:
    name = mesh(stack, unique)
    caller = stack.lab.user(ALL_APPMESH, {"Effect": "Allow", "Action": "acm:ExportCertificate", "Resource": CERT})
    client = stack.appmesh(caller)
    created = client.create_virtual_node(meshName=name, virtualNodeName="own", spec=node_spec(tls=tls(CERT)))
    assert created["virtualNode"]["spec"]["listeners"][0]["tls"]["certificate"]["acm"]["certificateArn"] == CERT

    message = refused(lambda: client.update_virtual_node(meshName=name, virtualNodeName="own",
                                                         spec=node_spec(tls=tls(OTHER_CERT))), client)
    assert f"acm:ExportCertificate on resource: {OTHER_CERT}" in message
    stored = stack.appmesh(stack.admin).describe_virtual_node(meshName=name, virtualNodeName="own")
    assert stored["virtualNode"]["spec"]["listeners"][0]["tls"]["certificate"]["acm"]["certificateArn"] == CERT
    assert stored["virtualNode"]["metadata"]["version"] == 1


def test_an_explicit_deny_on_export_wins(stack: AuthzStack, unique: Unique) -> None:
    name = mesh(stack, unique)
    caller = stack.lab.user(ALL_APPMESH, {"Effect": "Allow", "Action": "acm:*", "Resource": "*"},
                            {"Effect": "Deny", "Action": "acm:ExportCertificate", "Resource": CERT})
    client = stack.appmesh(caller)
    message = refused(lambda: client.create_virtual_gateway(meshName=name, virtualGatewayName="gw",
                                                            spec=gateway_spec(CERT)), client)
    assert message.endswith("with an explicit deny in an identity-based policy")


@pytest.mark.parametrize(("arn", "why"), [
    (f"arn:aws:acm:{REGION}:999999999999:certificate/11111111-2222-3333-4444-555555555555", "account 999999999999"),
    (f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555", "region eu-west-1"),
    (f"arn:aws-cn:acm:{REGION}:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555", "partition aws-cn"),
    (f"arn:aws:acm-pca:{REGION}:{ACCOUNT}:certificate-authority/11111111-2222", "not an acm certificate ARN"),
])
def test_foreign_certificates_are_bad_requests_naming_the_field(open_stack: AuthzStack, unique: Unique,
                                                                arn: str, why: str) -> None:
    name = mesh(open_stack, unique)
    client = open_stack.appmesh(open_stack.admin)
    with pytest.raises(client.exceptions.BadRequestException) as bad:
        client.create_virtual_node(meshName=name, virtualNodeName="n", spec=node_spec(tls=tls(arn)))
    message = bad.value.response["Error"]["Message"]
    assert message.startswith(f"{FIELD}: {arn} ") and why in message
    assert open_stack.store.get_item(ResourceKey(Kind.VIRTUAL_NODE, name, "n")) is None


def test_foreign_authorities_are_bad_requests_naming_the_field(open_stack: AuthzStack, unique: Unique) -> None:
    name = mesh(open_stack, unique)
    client = open_stack.appmesh(open_stack.admin)
    foreign = f"arn:aws:acm-pca:{REGION}:999999999999:certificate-authority/abcd-ef"
    spec = {**node_spec(), "backendDefaults": {"clientPolicy": {"tls": {"validation": {
        "trust": {"acm": {"certificateAuthorityArns": [f"arn:aws:acm-pca:{REGION}:{ACCOUNT}:certificate-authority/ok",
                                                       foreign]}}}}}}}
    with pytest.raises(client.exceptions.BadRequestException) as bad:
        client.create_virtual_node(meshName=name, virtualNodeName="n", spec=spec)
    assert bad.value.response["Error"]["Message"].startswith(
        f"spec.backendDefaults.clientPolicy.tls.validation.trust.acm.certificateAuthorityArns[1]: {foreign} ")
