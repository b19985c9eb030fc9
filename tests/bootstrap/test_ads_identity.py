"""Bootstrap for a secure ADS: client certificate and CA from the identity directory (file-based SDS, so renewals
need no restart), and a server certificate that must carry the server's name, not just chain to the CA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from delivery.secure import issue
from google.protobuf import json_format
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions
from meshplane.identity.ca import NodeCA
from meshplane.identity.layout import CERTIFICATE_SECRET, TRUSTED_CA_SECRET, IdentityLayout, install

from .test_bootstrap import bootstrap, envoy_validates

NODE = "mesh/shop/virtualNode/web"


def installed(root: Path) -> IdentityLayout:
    """What `meshplane identity` leaves behind after its first exchange."""
    ca = NodeCA.generate()
    certificate = issue(ca, f"arn:aws:appmesh:us-east-1:123456789012:{NODE}", "arn:aws:iam::123456789012:role/web")
    layout = IdentityLayout(root)
    install(layout, certificate.chain, certificate.key, ca.certificate_pem)
    return layout


def ads_tls(document: dict[str, Any]) -> dict[str, Any]:
    (cluster,) = [c for c in document["static_resources"]["clusters"] if c["name"] == "meshplane_ads"]
    return cluster["transport_socket"]["typed_config"]


@pytest.mark.envoy
def test_the_identity_directory_bootstrap_passes_envoy_validate(tmp_path: Path) -> None:
    layout = installed(tmp_path / "identity")
    result = bootstrap("--node-id", NODE, "--ads-address", "10.0.0.5:18000", "--ads-identity-dir", str(layout.root),
                       "--ads-server-name", "ads.mesh.internal", "--ads-delta")  # fmt: skip
    assert result.returncode == 0, result.stderr
    envoy_validates(result.stdout, tmp_path)
    tls = ads_tls(json.loads(result.stdout))
    assert tls["sni"] == "ads.mesh.internal"
    common = tls["common_tls_context"]
    (certificate,) = common["tls_certificate_sds_secret_configs"]
    assert certificate["name"] == CERTIFICATE_SECRET
    assert certificate["sds_config"]["path_config_source"] == {
        "path": str(layout.certificate_sds), "watched_directory": {"path": str(layout.root)}
    }  # fmt: skip
    combined = common["combined_validation_context"]
    assert combined["validation_context_sds_secret_config"]["name"] == TRUSTED_CA_SECRET
    assert combined["default_validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "ads.mesh.internal"}}
    ]


def test_the_server_name_defaults_to_the_ads_host_and_an_ip_is_matched_as_an_ip_without_sni(tmp_path: Path) -> None:
    for address, san_type in (("ads.mesh.internal:18000", "DNS"), ("10.0.0.5:18000", "IP_ADDRESS")):
        options = BootstrapOptions(node_id=NODE, ads_address=address, ads_identity_dir=str(tmp_path))
        tls = ads_tls(json_format.MessageToDict(build(options), preserving_proto_field_name=True))
        name = address.rpartition(":")[0]
        assert tls.get("sni", "") == ("" if san_type == "IP_ADDRESS" else name)
        matcher = tls["common_tls_context"]["combined_validation_context"]["default_validation_context"]
        assert matcher["match_typed_subject_alt_names"] == [{"san_type": san_type, "matcher": {"exact": name}}]


def test_a_static_ca_file_is_name_checked_too(tmp_path: Path) -> None:
    options = BootstrapOptions(node_id=NODE, ads_address="ads.mesh.internal:18000", ads_tls_ca="/etc/ca.pem")
    validation = ads_tls(json_format.MessageToDict(build(options), preserving_proto_field_name=True))[
        "common_tls_context"
    ]["validation_context"]
    assert validation["trusted_ca"] == {"filename": "/etc/ca.pem"}
    assert validation["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "ads.mesh.internal"}}
    ]


def test_the_identity_directory_and_server_name_come_from_the_environment(tmp_path: Path) -> None:
    env = {"APPMESH_VIRTUAL_NODE_NAME": NODE, "MESHPLANE_IDENTITY_DIR": str(tmp_path),
           "MESHPLANE_ADS_SERVER_NAME": "ads.mesh.internal"}  # fmt: skip
    result = bootstrap("--ads-address", "10.0.0.5:18000", env=env)
    assert result.returncode == 0, result.stderr
    assert ads_tls(json.loads(result.stdout))["sni"] == "ads.mesh.internal"
