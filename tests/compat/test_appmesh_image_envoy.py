"""A real Envoy 1.40 bootstrapped the way the App Mesh Envoy image bootstraps it (APPMESH_XDS_ENDPOINT pointed at
meshplane) gets its config from `meshplane ads` over TLS on the App Mesh image's port and carries traffic, while the
server's default port stays secure (node certificates).

Envoy 1.40 lacks the image's `envoy.grpc_credentials.aws_iam`; the rendered bootstrap drops only that extension and
carries the SigV4 metadata it would send, computed by botocore, as `initial_metadata` (see appmesh_image.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from delivery.harness import Publisher, counter, wait_live
from delivery.scenario import Scenario
from delivery.test_ads_traffic import answered_by, eventually_answered_by
from support import EnvoyError, EnvoyRunner, Lab, TestCA, validate, wait_until

from .appmesh_image import ads_service, for_envoy_140, placed, render, sign_ads_call
from .conftest import ACCOUNT, REGION, CompatAds, task_role_credentials

pytestmark = pytest.mark.envoy


def image_environment(scenario: Scenario, ads: CompatAds, tmp_path: Path) -> dict[str, str]:
    """The task definition's variables: the image's defaults, one endpoint changed."""
    return {
        "APPMESH_XDS_ENDPOINT": ads.compat_address,
        "AWS_REGION": REGION,
        "APPMESH_RESOURCE_ARN": f"arn:aws:appmesh:{REGION}:{ACCOUNT}:{scenario.front.path}",
        "APPMESH_VIRTUAL_NODE_CLUSTER": "front",
        "ENVOY_ADMIN_ACCESS_LOG_FILE": str(tmp_path / "admin_access.log"),
    }


def test_envoy_140_refuses_the_images_aws_iam_plugin_and_accepts_the_bootstrap_without_it(
    lab: Lab, compat_ads, test_ca: TestCA, tmp_path: Path
) -> None:
    scenario = Scenario(lab)
    bootstrap = render(image_environment(scenario, compat_ads(), tmp_path), ca_bundle=str(test_ca.cert_path))
    with pytest.raises(EnvoyError, match="AwsIamConfig"):
        validate(bootstrap, tmp_path)
    validate(for_envoy_140(bootstrap, {"authorization": "stand-in"}), tmp_path)
    google_grpc = ads_service(for_envoy_140(bootstrap, None))["google_grpc"]
    assert "call_credentials" not in google_grpc and "credentials_factory_name" not in google_grpc
    assert google_grpc["channel_credentials"] == ads_service(bootstrap)["google_grpc"]["channel_credentials"]
    assert google_grpc["channel_args"] == ads_service(bootstrap)["google_grpc"]["channel_args"]


def test_an_app_mesh_image_bootstrap_gets_its_config_over_tls_on_the_compat_port_and_carries_traffic(
    lab: Lab, envoy_runner: EnvoyRunner, compat_ads, publisher: Publisher, test_ca: TestCA, aws, tmp_path: Path
) -> None:
    scenario = Scenario.two_versions(lab)
    ads = compat_ads(nodes=(scenario.front.path,))
    publisher.publish(scenario.snapshot())
    image = render(image_environment(scenario, ads, tmp_path), ca_bundle=str(test_ca.cert_path))
    signed = sign_ads_call(task_role_credentials(aws), REGION, ads.compat_address)
    front = lab.address()
    envoy = envoy_runner.start(placed(for_envoy_140(image, signed), front), name="image", wait_ready=False)
    wait_live(envoy)
    assert [answered_by(front)() for _ in range(5)] == ["back-v1"] * 5
    scenario.route_to = "back-v2"
    publisher.publish(scenario.snapshot())
    eventually_answered_by(front, "back-v2")
    assert counter(envoy, "control_plane.connected_state") == 1
    metrics = ads.server.metrics()
    assert metrics.streams_total >= 1 and metrics.rejected_streams == 0


def test_the_image_bootstrap_without_its_signature_gets_nothing_from_the_compat_port(
    lab: Lab, envoy_runner: EnvoyRunner, compat_ads, publisher: Publisher, test_ca: TestCA, tmp_path: Path
) -> None:
    scenario = Scenario.two_versions(lab)
    ads = compat_ads(nodes=(scenario.front.path,))
    publisher.publish(scenario.snapshot())
    image = render(image_environment(scenario, ads, tmp_path), ca_bundle=str(test_ca.cert_path))
    envoy = envoy_runner.start(placed(for_envoy_140(image, None), lab.address()), name="unsigned", wait_ready=False)
    wait_until(lambda: ads.server.metrics().rejected_streams >= 1, 15, what="the unsigned stream to be refused")
    assert ads.server.metrics().streams_open == 0
    assert envoy.running and counter(envoy, "listener_manager.total_listeners_active") == 0
    wait_until(lambda: "no SigV4 authorization metadata" in envoy.log_tail(50_000), 10,
               what="Envoy to log the server's refusal")  # fmt: skip
