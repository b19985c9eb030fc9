"""The API imports and builds meshplane's own APIs (policies, rollouts, proxy reads) on their first request only:
an App Mesh call never loads them, and concurrent first requests share one of each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from meshplane.api import app, policy_api, rollout_api
from meshplane.api.app import EXTENSIONS_PREFIX, Api
from meshplane.api.routes import PROXY_ROUTES
from meshplane.store.resources import ResourceStore

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = ("meshplane.api.policy_api", "meshplane.api.rollout_api", "meshplane.api.proxy_status")
# In a fresh interpreter laid out like Lambda's: the API handler's first calls, CreateMesh then ListMeshes, against
# in-process moto; then the extensions it loaded, and whether a policy request after them still loads and serves.
PROBE = """
import json, sys
import boto3
from moto import mock_aws

EXTENSIONS = sys.argv[1].split(",")

with mock_aws():
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName="meshplane-state", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    import app

    create = {"httpMethod": "PUT", "path": "/v20190125/meshes", "body": json.dumps({"meshName": "m"})}
    statuses = [app.handler(create, None)["statusCode"],
                app.handler({"httpMethod": "GET", "path": "/v20190125/meshes"}, None)["statusCode"]]
    loaded = [name for name in EXTENSIONS if name in sys.modules]
    policies = app.handler({"httpMethod": "GET", "path": "/meshplane/v1/meshes/m/policies"}, None)
    print(json.dumps({"statuses": statuses, "loaded": loaded, "policies": [policies["statusCode"],
                      json.loads(policies["body"])]}))
"""


def test_the_api_handlers_first_app_mesh_calls_import_none_of_meshplanes_own_apis() -> None:
    folder = ROOT / "functions" / "api"
    env = {"PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "MESHPLANE_TABLE": "meshplane-state",
           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "meshplane", "LOG_LEVEL": "WARNING",
           "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT / "layers")])}
    out = subprocess.run([sys.executable, "-c", PROBE, ",".join(EXTENSIONS)], cwd=folder, env=env,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["statuses"] == [200, 200]
    assert report["loaded"] == []
    assert report["policies"] == [200, {"policies": []}]


def test_every_path_of_the_policy_rollout_and_proxy_apis_starts_with_the_prefix_the_api_routes_them_by() -> None:
    patterns = [route.pattern.pattern for route in (*policy_api.ROUTES, *rollout_api.ROUTES, *PROXY_ROUTES)]
    assert patterns and all(p.startswith("^" + EXTENSIONS_PREFIX) for p in patterns)
    for path in ("/meshplane/v1/meshes/m/policies", "/meshplane/v1/meshes/m/rollouts/r"):
        assert path.startswith(EXTENSIONS_PREFIX) and (policy_api.owns(path) or rollout_api.owns(path))
    assert not policy_api.owns("/meshplane/v2/meshes/m/policies") and not rollout_api.owns("/v20190125/meshes/m")


def _api() -> Api:
    return Api(ResourceStore("t", object(), region="us-east-1", account="123456789012"))


@pytest.mark.parametrize(("attribute", "module", "name"), [
    ("policies", policy_api, "PolicyOperations"),
    ("rollouts", rollout_api, "RolloutOperations"),
    ("proxies", None, "ProxyReads"),
])
def test_threads_making_the_first_extension_request_at_once_share_one_build(
        monkeypatch: pytest.MonkeyPatch, attribute: str, module: Any, name: str) -> None:
    if module is None:
        from meshplane.api import proxy_status as module
    made: list[object] = []
    real = getattr(module, name)

    def slow(*args: Any) -> Any:
        time.sleep(0.02)  # a while to build: the other threads arrive meanwhile
        made.append(real(*args))
        return made[-1]

    monkeypatch.setattr(module, name, slow)
    api, gate, seen = _api(), threading.Barrier(8), []

    def first_request() -> None:
        gate.wait()
        seen.append(getattr(api, attribute))

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and len(seen) == 8 and all(s is made[0] for s in seen)
    assert isinstance(made[0], real) and getattr(api, attribute) is made[0]


def test_an_unknown_path_under_the_prefix_is_answered_as_before() -> None:
    served = _api().serve({"httpMethod": "GET", "path": "/meshplane/v1/meshes/m/unknown"})
    assert served.status == 404 and served.operation == app.UNKNOWN_OPERATION
    assert "no App Mesh operation at" in json.loads(served.response["body"])["message"]
