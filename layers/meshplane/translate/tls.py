"""TLS contexts for listeners (server side) and backend clusters (origination), App Mesh style.

Certificates come from files or from SDS.  App Mesh's `sds` secrets are served by a
local SDS provider on a Unix socket (SPIRE); the bootstrap defines that cluster.
ACM trust is delivered by the control plane over ADS, named by the CA ARN.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TypeAlias, TypeGuard

from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from meshplane.graph.view import ClientTls, ListenerTls
from meshplane.model import addresses, shapes
from meshplane.translate.core import ads, typed

LOCAL_SDS_CLUSTER = "static_cluster_sds_unix_socket"
TLS_SOCKET = "envoy.transport_sockets.tls"
_ARN_SEPARATOR = ","  # ARNs never contain a comma, so the trust secret's name splits back into them
# A listener's or a client's, of a virtual node or a gateway (strings: importing this loads no shape module).
Certificate: TypeAlias = (
    "shapes.ListenerTlsCertificate | shapes.ClientTlsCertificate"
    " | shapes.VirtualGatewayListenerTlsCertificate | shapes.VirtualGatewayClientTlsCertificate"
)
Validation: TypeAlias = (
    "shapes.ListenerTlsValidationContext | shapes.TlsValidationContext"
    " | shapes.VirtualGatewayListenerTlsValidationContext | shapes.VirtualGatewayTlsValidationContext"
)


def acm_certificate_secret(certificate_arn: str) -> str:
    """The ADS secret name of an ACM certificate: its ARN (the pipeline exports it under this name)."""
    return certificate_arn


def acm_certificate_arn(secret_name: str) -> str:
    """The certificate ARN behind an `acm_certificate_secret` name."""
    return secret_name


def acm_trust_secret(authority_arns: Sequence[str]) -> str:
    """The ADS secret name of an ACM PCA trust list: its CA ARNs, comma-joined."""
    return _ARN_SEPARATOR.join(authority_arns)


def acm_trust_arns(secret_name: str) -> tuple[str, ...]:
    """The CA ARNs behind an `acm_trust_secret` name."""
    return tuple(secret_name.split(_ARN_SEPARATOR))


def local_sds() -> config_source_pb2.ConfigSource:
    grpc = grpc_service_pb2.GrpcService(
        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=LOCAL_SDS_CLUSTER)
    )
    api = config_source_pb2.ApiConfigSource(
        api_type=config_source_pb2.ApiConfigSource.GRPC,
        transport_api_version=config_source_pb2.V3,
        grpc_services=[grpc],
    )
    return config_source_pb2.ConfigSource(api_config_source=api, resource_api_version=config_source_pb2.V3)


def _certificate(common: tls_pb2.CommonTlsContext, cert: Certificate) -> None:
    kind, value = cert.member
    if kind == "file":
        common.tls_certificates.append(
            common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(filename=value.certificate_chain),
                private_key=base_pb2.DataSource(filename=value.private_key),
            )
        )
    elif kind == "sds":
        common.tls_certificate_sds_secret_configs.append(
            secret_pb2.SdsSecretConfig(name=value.secret_name, sds_config=local_sds())
        )
    else:  # acm: the control plane delivers the certificate as an ADS secret named by its ARN
        common.tls_certificate_sds_secret_configs.append(
            secret_pb2.SdsSecretConfig(name=acm_certificate_secret(value.certificate_arn), sds_config=ads())
        )


def san_matcher(name: str) -> common_pb2.SubjectAltNameMatcher:
    """App Mesh's `subjectAlternativeNames.match.exact` entries are FQDNs or URIs: a URI (a SPIFFE
    ID such as `spiffe://trust/ns/app`, the name SPIRE puts in its certificates) must equal a URI
    SAN, anything else a DNS SAN.  A DNS name never holds `://`, so the two cannot be confused."""
    kind = common_pb2.SubjectAltNameMatcher.URI if "://" in name else common_pb2.SubjectAltNameMatcher.DNS
    return common_pb2.SubjectAltNameMatcher(san_type=kind, matcher=string_pb2.StringMatcher(exact=name))


def _validation(common: tls_pb2.CommonTlsContext, validation: Validation | None) -> None:
    if validation is None:
        return
    sans = validation.subject_alternative_names
    context = common_pb2.CertificateValidationContext()
    if sans is not None:
        context.match_typed_subject_alt_names.extend(san_matcher(name) for name in sans.match.exact)
    kind, trust = validation.trust.member
    if kind == "file":
        context.trusted_ca.CopyFrom(base_pb2.DataSource(filename=trust.certificate_chain))
        common.validation_context.CopyFrom(context)
        return
    if kind == "sds":
        name, source = trust.secret_name, local_sds()
    else:  # acm: the control plane delivers the CA certificates as one ADS secret
        name, source = acm_trust_secret(trust.certificate_authority_arns), ads()
    common.combined_validation_context.CopyFrom(
        tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
            default_validation_context=context,
            validation_context_sds_secret_config=secret_pb2.SdsSecretConfig(name=name, sds_config=source),
        )
    )


def downstream_socket(tls: ListenerTls) -> base_pb2.TransportSocket:
    """Server-side TLS for a listener; a validation context means clients must present certs (mTLS)."""
    common = tls_pb2.CommonTlsContext()
    _certificate(common, tls.certificate)
    _validation(common, tls.validation)
    context = tls_pb2.DownstreamTlsContext(common_tls_context=common)
    if tls.validation is not None:
        context.require_client_certificate.value = True
    return base_pb2.TransportSocket(name=TLS_SOCKET, typed_config=typed(context))


def server_name(discovery: shapes.ServiceDiscovery | None) -> str:
    """The SNI a caller sends to a backend virtual node: the name its service discovery gives it,
    the DNS `hostname`, or `serviceName.namespaceName` in AWS Cloud Map.

    App Mesh's certificate requirements name exactly these: the backend's certificate had to
    carry its DNS hostname, or `service-name.namespace-name` for Cloud Map, the name App Mesh's
    callers checked when no SANs were listed.  Sending it as SNI lets a TLS endpoint that serves several
    certificates (an external HTTPS API modelled as a DNS virtual node, a TLS-terminating app)
    pick the one the caller will accept.  App Mesh configured no SNI when aws-app-mesh-roadmap
    #311 asked for it, its team proposing there to derive one from the service discovery settings
    as it derived the expected SAN, and users' config dumps showed none later.  The virtual
    service name cannot be used: one cluster per backend listener serves every virtual service
    routed to it.  An IP address, or a name no DNS label rule allows, is not sent.
    """
    if discovery is None:
        return ""
    if discovery.dns is not None:
        name = discovery.dns.hostname
    elif discovery.aws_cloud_map is not None:
        name = f"{discovery.aws_cloud_map.service_name}.{discovery.aws_cloud_map.namespace_name}"
    else:
        return ""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return ""
    try:
        addresses.hostname(name)
    except addresses.InvalidAddress:
        return ""
    return name.removesuffix(".")


def upstream_socket(tls: ClientTls, sni: str | None = None) -> base_pb2.TransportSocket:
    """TLS origination towards a backend, with a client certificate when one is configured."""
    common = tls_pb2.CommonTlsContext()
    if tls.certificate is not None:
        _certificate(common, tls.certificate)
    _validation(common, tls.validation)
    context = tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=sni or "")
    return base_pb2.TransportSocket(name=TLS_SOCKET, typed_config=typed(context))


def tls_enabled(tls: ListenerTls | None) -> TypeGuard[ListenerTls]:
    return tls is not None and tls.mode != "DISABLED"


__all__ = [
    "LOCAL_SDS_CLUSTER",
    "acm_certificate_arn",
    "acm_certificate_secret",
    "acm_trust_arns",
    "acm_trust_secret",
    "downstream_socket",
    "local_sds",
    "san_matcher",
    "server_name",
    "tls_enabled",
    "upstream_socket",
]
