"""The console against an API that, like the deployed one, takes only calls signed for `execute-api` by IAM keys.

The stand-in is tests/apiproxy's: the local API behind API Gateway's IAM authorizer (the
emulator checks each signature against its IAM users) with IAM authorization in the API.
The browser's calls carry no credentials: the console signs them with the operator's keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from apiproxy import conftest as apiproxy_fixtures
from apiproxy.harness import Upstream
from authz.iamlab import REGION, IamLab

from console.harness import clean_env, console_process, relayed

pytestmark = pytest.mark.emulator
lab, target = apiproxy_fixtures.lab, apiproxy_fixtures.target  # the IAM emulator and the execute-api stand-in
READ_ONLY = {"Effect": "Allow", "Action": ["appmesh:List*", "appmesh:Describe*"], "Resource": "*"}


def test_the_console_signs_each_call_with_the_operator_s_keys_and_their_policy_holds(
    lab: IamLab, target: Upstream, tmp_path: Path
) -> None:
    anonymous = requests.get(f"{target.url}/v20190125/meshes", timeout=10)
    assert anonymous.status_code == 403  # the API itself takes nothing unsigned

    reader = lab.user(READ_ONLY)
    env = clean_env(tmp_path / "home", AWS_ACCESS_KEY_ID=reader.access_key, AWS_SECRET_ACCESS_KEY=reader.secret_key)
    with console_process(tmp_path / "console", "--api-url", target.url, "--region", REGION, env=env) as console:
        assert console.how == f"signed for execute-api in {REGION}"
        listed = relayed(console, "GET", "/v20190125/meshes")
        assert listed.status == 200, listed.body
        assert target.stage.events[-1]["requestContext"]["identity"]["userArn"] == reader.arn
        updated = relayed(console, "PUT", "/v20190125/meshes/x/virtualRouter/r/routes/split",
                          {"Content-Type": "application/json"}, b'{"spec": {}}')
        # UpdateRoute is relayed, and the reader's own policy refuses it, in the API's words
        assert (updated.status, updated.error_type) == (403, "ForbiddenException"), updated.body
        assert "not authorized to perform: appmesh:UpdateRoute" in updated.json["message"]
