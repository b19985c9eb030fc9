"""Clients with no meshplane code reach the execute-api target through the proxy: the AWS CLI and curl."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from authz.iamlab import IamLab, Keys
from meshplane.model.ids import Kind, ResourceKey

from apiproxy.harness import Upstream, aws, aws_json

NODE_SPEC = json.dumps({"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]})


def test_the_aws_cli_without_plugin_manages_a_mesh(proxy: str, target: Upstream, lab: IamLab, operator: Keys,
                                                    home: Path) -> None:
    # the CLI signs with keys of its own, allowed nothing: the upstream must see the proxy's operator
    client = lab.user()
    mesh = f"cli-{uuid.uuid4().hex[:8]}"
    created = aws_json(proxy, home, client, "create-mesh", "--mesh-name", mesh)["mesh"]
    assert created["meshName"] == mesh
    assert created["status"]["status"] == "ACTIVE"
    assert created["metadata"]["arn"] == f"arn:aws:appmesh:us-east-1:123456789012:mesh/{mesh}"
    assert target.store.get_item(ResourceKey(Kind.MESH, mesh, mesh)) is not None  # stored upstream

    described = aws_json(proxy, home, client, "describe-mesh", "--mesh-name", mesh)["mesh"]
    assert described["metadata"]["uid"] == created["metadata"]["uid"]
    updated = aws_json(proxy, home, client, "update-mesh", "--mesh-name", mesh,
                       "--spec", json.dumps({"egressFilter": {"type": "ALLOW_ALL"}}))["mesh"]
    assert updated["spec"]["egressFilter"]["type"] == "ALLOW_ALL"
    assert updated["metadata"]["version"] == created["metadata"]["version"] + 1
    listed = aws_json(proxy, home, client, "list-meshes")["meshes"]
    assert mesh in {m["meshName"] for m in listed}

    node = aws_json(proxy, home, client, "create-virtual-node", "--mesh-name", mesh,
                    "--virtual-node-name", "front", "--spec", NODE_SPEC)["virtualNode"]
    assert node["spec"]["listeners"][0]["portMapping"] == {"port": 8080, "protocol": "http"}
    described_node = aws_json(proxy, home, client, "describe-virtual-node", "--mesh-name", mesh,
                              "--virtual-node-name", "front")["virtualNode"]
    assert described_node["metadata"]["arn"].endswith(f"mesh/{mesh}/virtualNode/front")
    in_use = aws(proxy, home, client, "delete-mesh", "--mesh-name", mesh)
    assert in_use.returncode != 0
    assert "ResourceInUseException" in in_use.stderr
    deleted_node = aws_json(proxy, home, client, "delete-virtual-node", "--mesh-name", mesh,
                            "--virtual-node-name", "front")["virtualNode"]
    assert deleted_node["status"]["status"] == "DELETED"
    assert aws_json(proxy, home, client, "delete-mesh", "--mesh-name", mesh)["mesh"]["status"]["status"] == "DELETED"
    gone = aws(proxy, home, client, "describe-mesh", "--mesh-name", mesh)
    assert "NotFoundException" in gone.stderr

    # every call upstream carried the operator's execute-api signature, never the client's
    signatures = [str(event["headers"].get("Authorization")) for event in target.stage.events]
    mine = [s for s in signatures if f"Credential={operator.access_key}/" in s]
    assert len(mine) >= 10
    assert all("/us-east-1/execute-api/aws4_request" in s for s in mine)
    assert not any(client.access_key in s for s in signatures)


def test_aws_endpoint_url_app_mesh_and_an_unsigned_cli(proxy: str, lab: IamLab, home: Path) -> None:
    mesh = f"env-{uuid.uuid4().hex[:8]}"
    created = aws_json(None, home, lab.user(), "create-mesh", "--mesh-name", mesh, AWS_ENDPOINT_URL_APP_MESH=proxy)
    assert created["mesh"]["meshName"] == mesh
    unsigned = aws_json(proxy, home, None, "describe-mesh", "--mesh-name", mesh, "--no-sign-request")
    assert unsigned["mesh"]["metadata"]["uid"] == created["mesh"]["metadata"]["uid"]


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "30", "-w", "\n%{http_code}", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def _answer(done: subprocess.CompletedProcess[str]) -> tuple[int, dict[str, object]]:
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


def test_curl_signing_for_appmesh_and_unsigned(proxy: str, lab: IamLab) -> None:
    keys = lab.user()
    mesh = f"curl-{uuid.uuid4().hex[:8]}"
    signed = ["--aws-sigv4", "aws:amz:us-east-1:appmesh", "--user", f"{keys.access_key}:{keys.secret_key}"]
    status, body = _answer(_curl(*signed, "-X", "PUT", "-H", "Content-Type: application/json",
                                 "--data", json.dumps({"meshName": mesh, "spec": {}}),
                                 f"{proxy}/v20190125/meshes"))
    assert (status, body["meshName"]) == (200, mesh)
    status, body = _answer(_curl(*signed, f"{proxy}/v20190125/meshes/{mesh}"))
    assert (status, body["status"]) == (200, {"status": "ACTIVE"})
    status, body = _answer(_curl(f"{proxy}/v20190125/meshes?limit=100"))  # unsigned, from loopback
    assert status == 200
    assert mesh in {m["meshName"] for m in body["meshes"]}
    status, body = _answer(_curl(*signed, "-X", "DELETE", f"{proxy}/v20190125/meshes/{mesh}"))
    assert (status, body["status"]) == (200, {"status": "DELETED"})
