"""A deployed-API stand-in that verifies `execute-api` signatures, and `meshplane api-proxy` in front of it.

The target is the local API server with API Gateway's IAM authorizer on (the emulator
checks each signature against the keys of its IAM users) and IAM authorization in the
API.  Unlike the local stack's authorizer, which also takes `appmesh` signatures for the
signing hook's sake, it accepts `execute-api` only, and it serves the stage `/v1` as API
Gateway does: the stage is part of what is signed, not of the path the API routes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authz.iamlab import ACCOUNT, REGION, IamLab, Keys
from meshplane.api.app import Api
from meshplane.api.authz import Authorizer
from meshplane.api.http import serve_in_thread
from meshplane.local.gateway_auth import EmulatorAuthenticator
from meshplane.localnet import processes
from meshplane.localnet.loopback import free_port
from meshplane.store import ResourceStore, create_table

STAGE = "/v1"
AWS_CLI = Path(sys.executable).with_name("aws")


class ExecuteApiAuthenticator(EmulatorAuthenticator):
    """API Gateway's IAM authorizer: signatures scoped to `execute-api` only."""

    def _post(self, payload: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        return super()._post({**payload, "services": ["execute-api"]})


@dataclass
class Stage:
    """API Gateway's stage in front of the API; remembers each event it passed on and the answer to it."""

    api: Api
    events: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        self.events.append(event)
        path = str(event["path"])
        if path.startswith(f"{STAGE}/"):
            answer = self.api.handle({**event, "path": path[len(STAGE):]})
        else:  # what API Gateway answers for a path outside its stages
            answer = {"statusCode": 403, "body": json.dumps({"message": "Missing Authentication Token"}),
                      "headers": {"Content-Type": "application/json",
                                  "x-amzn-ErrorType": "MissingAuthenticationTokenException"}}
        request_id = event["requestContext"]["requestId"]
        answer = {**answer, "headers": {**(answer.get("headers") or {}), "x-amzn-RequestId": request_id}}
        self.answers.append(answer)
        return answer


@dataclass(frozen=True)
class Upstream:
    """The running target: `url` includes the stage, as the stack's ApiUrl does."""

    url: str
    stage: Stage
    store: ResourceStore


@contextmanager
def upstream(lab: IamLab) -> Iterator[Upstream]:
    dynamodb = lab.client("dynamodb")
    table = f"meshplane-apiproxy-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    store = ResourceStore(table, dynamodb, region=REGION, account=ACCOUNT)
    stage = Stage(Api(store, authorizer=Authorizer(lab.client("iam"), store)))
    authenticate = ExecuteApiAuthenticator(lambda: lab.endpoint, REGION)
    server, _ = serve_in_thread(stage, authenticate=authenticate)  # type: ignore[arg-type]
    host, port = server.server_address[:2]
    try:
        yield Upstream(f"http://{host}:{port}{STAGE}", stage, store)
    finally:
        server.shutdown()
        server.server_close()


def client_env(home: Path, keys: Keys | None, **extra: str) -> dict[str, str]:
    """A process environment with no AWS configuration but `keys` (HOME is an empty directory)."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "AWS_DEFAULT_REGION": REGION, "AWS_MAX_ATTEMPTS": "1",
           "AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
           "AWS_EC2_METADATA_DISABLED": "true", **extra}
    if keys is not None:
        env |= {"AWS_ACCESS_KEY_ID": keys.access_key, "AWS_SECRET_ACCESS_KEY": keys.secret_key}
    return env


@contextmanager
def api_proxy(target: str, keys: Keys, workdir: Path, *args: str) -> Iterator[str]:
    """`meshplane api-proxy --target target` signing with `keys` (from the environment); yields its URL."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "meshplane.cli", "api-proxy", "--target", target, "--region", REGION,
            "--port", str(port), "--connect-timeout", "2", *args]
    process = processes.spawn(argv, env=client_env(workdir / "home", keys), log=workdir / "api-proxy.log")
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_http(f"{url}/", timeout=30, process=process)
        yield url
    finally:
        processes.stop_group(process)


def aws(endpoint: str | None, home: Path, keys: Keys | None, *args: str,
        **env: str) -> subprocess.CompletedProcess[str]:
    """The bundled AWS CLI with no meshplane plugin: `aws appmesh <args>` against `endpoint`."""
    endpoint_args = ["--endpoint-url", endpoint] if endpoint else []
    return subprocess.run([str(AWS_CLI), "appmesh", *args, *endpoint_args, "--output", "json"],
                          env=client_env(home, keys, **env), capture_output=True, text=True, timeout=60, check=False)


def aws_json(endpoint: str | None, home: Path, keys: Keys | None, *args: str, **env: str) -> dict[str, Any]:
    done = aws(endpoint, home, keys, *args, **env)
    assert done.returncode == 0, f"aws appmesh {' '.join(args)}: {done.returncode}\n{done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else {}
