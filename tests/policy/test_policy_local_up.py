"""A policy written through `meshplane local up`'s API reaches a real Envoy over ADS and changes its traffic.

`guard`'s Envoy is bootstrapped by `meshplane bootstrap` to local up's ADS server, as a sidecar in
front of a local app.  The policy goes in through the Policy API (by `meshplane policy`'s client),
down the table's stream, the recompute and the ADS push; a DENY rule on `/private` then answers 403
while `/public` still reaches the app, and deleting the policy opens `/private` again.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from google.protobuf import json_format
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions
from meshplane.local.harness import LocalStack
from meshplane.policycli import call
from support import EnvoyRunner, Lab, http_request, wait_until
from support.fixtures import envoy_runner, lab

__all__ = ["envoy_runner", "lab"]
pytestmark = [pytest.mark.emulator, pytest.mark.envoy]

APP_PORT = 8080
PUSH_SECONDS = 90  # the stream, the recompute and the ADS push on a loaded machine; polled, never slept


def _status(address: str, path: str) -> int:
    return http_request((address, 15000), "guard.local", path, timeout=5).status


def test_a_policy_written_through_the_api_changes_a_real_envoys_traffic(
    local_stack: LocalStack, lab: Lab, envoy_runner: EnvoyRunner
) -> None:
    mesh = f"policy-e2e-{uuid.uuid4().hex[:8]}"
    appmesh = local_stack.appmesh()
    appmesh.create_mesh(meshName=mesh)
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="guard", spec={
        "listeners": [{"portMapping": {"port": APP_PORT, "protocol": "http"}}]})
    address = lab.address()
    lab.http_app("guard", address, APP_PORT)
    options = BootstrapOptions(node_id=f"mesh/{mesh}/virtualNode/guard", ads_address=local_stack.ads_address,
                               bind_address=address, admin_port=0)
    envoy_runner.start(json_format.MessageToDict(build(options), preserving_proto_field_name=True), name="guard",
                       wait_ready=False)
    wait_until(lambda: _status(address, "/private") == 200, PUSH_SECONDS, 0.2, "guard's Envoy to serve its app")

    spec = {"targets": [{"virtualNode": {"virtualNodeName": "guard"}}],
            "authorization": {"rules": [{"action": "DENY", "to": {"paths": [{"prefix": "/private"}]}}]}}
    base = f"/meshplane/v1/meshes/{mesh}/policies"
    created: Any = call(local_stack.api_url, "PUT", base, json.dumps({"policyName": "guard-authz", "spec": spec})
                        .encode(), "CreatePolicy", region=local_stack.state.get("region"))
    assert created["policy"]["metadata"]["version"] == 1
    wait_until(lambda: _status(address, "/private") == 403, PUSH_SECONDS, 0.2, "the policy to reach guard's Envoy")
    assert _status(address, "/public") == 200

    call(local_stack.api_url, "DELETE", f"{base}/guard-authz", None, "DeletePolicy",
         region=local_stack.state.get("region"))
    wait_until(lambda: _status(address, "/private") == 200, PUSH_SECONDS, 0.2, "the policy's removal to reach Envoy")
