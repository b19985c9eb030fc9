"""CloudFormation's part in a custom resource's life, played locally for the macro and provider tests.

- `ResponseServer`: the pre-signed response URL, a loopback HTTP server that keeps each PUT.
- `DeployedFunction`: one function of the local stack's template run as `meshplane local up` runs
  it (the local runtime's worker process, the environment the emulator's stack resolved).
- `StackDriver`: creates, updates and deletes a (transformed) template's custom resources as
  CloudFormation does: properties resolved and stringified, requests in dependency order,
  `Ref`/`Fn::GetAtt` from the responses, replaced resources deleted in the cleanup phase, and
  on a FAILED update the rollback (the old properties sent again).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from meshplane.local.harness import LocalStack
from meshplane.local.invoker import FunctionInvoker, base_environment, lambda_environment
from meshplane.migrate.intrinsics import Context, Resolver, parameter_values

REPO = Path(__file__).resolve().parents[2]
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/colorapp/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


class ResponseServer:
    """Accepts PUTs at any path; `take(path)` returns the JSON document put there."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.arrived = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with server.arrived:
                    server.documents[self.path] = json.loads(body)
                    server.headers[self.path] = dict(self.headers.items())
                    server.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, request_id: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/responses/{request_id}"

    def take(self, request_id: str, timeout: float = 60) -> dict[str, Any]:
        path = f"/responses/{request_id}"
        with self.arrived:
            if not self.arrived.wait_for(lambda: path in self.documents, timeout):
                raise TimeoutError(f"no response was PUT for request {request_id}")
            return self.documents[path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DeployedFunction:
    """A function of the local stack's template, in a worker like the local runtime's, invoked directly."""

    def __init__(self, local_stack: LocalStack, logical_id: str, log: Path) -> None:
        from meshplane.local.plan import make_plan, resolve_marks
        from meshplane.local.template import translate

        translated = translate(REPO / "template.yaml", {}, "us-east-1", "123456789012")
        plan = make_plan(translated.body, translated.code_dirs, local_stack.stack_name, "us-east-1", "123456789012")
        stack = local_stack.client("cloudformation").describe_stacks(StackName=local_stack.stack_name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        spec = plan.functions[logical_id]
        environment = {k: str(v) for k, v in resolve_marks(spec.environment, outputs).items()}
        self.spec = spec.__class__(**{**spec.__dict__, "environment": environment})
        env = lambda_environment(self.spec, base_environment(local_stack.endpoint_url, "us-east-1"), "us-east-1")
        self.invoker = FunctionInvoker(self.spec, env, log)
        self.invoker.start()

    @property
    def arn(self) -> str:
        return self.spec.arn

    def invoke(self, event: dict[str, Any]) -> Any:
        outcome = self.invoker.invoke(event)
        assert outcome.ok, outcome.error
        return outcome.result

    def close(self) -> None:
        self.invoker.stop()


@dataclass
class Deployed:
    type: str
    physical_id: str
    data: dict[str, str]
    properties: dict[str, Any]


@dataclass
class StackDriver:
    """CloudFormation for one stack of custom resources, talking to `provider` through `responses`."""

    provider: DeployedFunction
    responses: ResponseServer
    imports: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Deployed] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (type, logical id, response)

    # --- the three operations --------------------------------------------------------------------

    def create(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        for logical_id in self._order(template, parameters):
            properties, resource_type = self._resolve(template, parameters, logical_id)
            response = self._send("Create", logical_id, resource_type, properties)
            assert response["Status"] == "SUCCESS", response["Reason"]
            self.resources[logical_id] = Deployed(resource_type, response["PhysicalResourceId"],
                                                  response.get("Data") or {}, properties)

    def update(self, template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any] | None:
        """Update every resource whose properties changed; the FAILED response, after rolling back, if any."""
        replaced: list[tuple[str, Deployed]] = []
        updated: list[tuple[str, Deployed]] = []
        for logical_id in self._order(template, parameters):
            properties, resource_type = self._resolve(template, parameters, logical_id)
            before = self.resources[logical_id]
            if properties == before.properties:
                continue
            response = self._send("Update", logical_id, resource_type, properties, before)
            if response["Status"] != "SUCCESS":
                self._roll_back(updated)
                return response
            after = Deployed(resource_type, response["PhysicalResourceId"], response.get("Data") or {}, properties)
            if after.physical_id != before.physical_id:
                replaced.append((logical_id, before))
            updated.append((logical_id, before))
            self.resources[logical_id] = after
        for logical_id, old in reversed(replaced):  # the cleanup phase: replaced resources go once all succeeded
            response = self._send("Delete", logical_id, old.type, old.properties, old)
            assert response["Status"] == "SUCCESS", response["Reason"]
        return None

    def delete(self) -> None:
        for logical_id in reversed(list(self.resources)):
            deployed = self.resources.pop(logical_id)
            response = self._send("Delete", logical_id, deployed.type, deployed.properties, deployed)
            assert response["Status"] == "SUCCESS", response["Reason"]

    def _roll_back(self, updated: list[tuple[str, Deployed]]) -> None:
        for logical_id, before in reversed(updated):
            now = self.resources[logical_id]
            if now.physical_id != before.physical_id:  # a replacement: the new resource is deleted
                response = self._send("Delete", logical_id, now.type, now.properties, now)
            else:  # the old properties, sent as an update
                response = self._send("Update", logical_id, now.type, before.properties, now)
            assert response["Status"] == "SUCCESS", response["Reason"]
            self.resources[logical_id] = before

    # --- requests ----------------------------------------------------------------------------------

    def _send(self, request_type: str, logical_id: str, resource_type: str, properties: dict[str, Any],
              current: Deployed | None = None) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        event: dict[str, Any] = {
            "RequestType": request_type, "ServiceToken": properties["ServiceToken"],
            "ResponseURL": self.responses.url(request_id), "StackId": STACK_ID, "RequestId": request_id,
            "LogicalResourceId": logical_id, "ResourceType": resource_type,
            "ResourceProperties": properties if request_type != "Delete" else current.properties,  # type: ignore[union-attr]
        }
        if current is not None:
            event["PhysicalResourceId"] = current.physical_id
        if request_type == "Update":
            event["OldResourceProperties"] = current.properties  # type: ignore[union-attr]
        assert properties["ServiceToken"] == self.provider.arn  # what the macro put there
        self.provider.invoke(event)
        response = self.responses.take(request_id)
        assert response["RequestId"] == request_id and response["LogicalResourceId"] == logical_id
        assert response["StackId"] == STACK_ID
        self.requests.append((request_type, logical_id, response))
        return response

    # --- the template --------------------------------------------------------------------------------

    def _resolver(self, template: dict[str, Any], parameters: dict[str, str]) -> Resolver:
        def ref(logical_id: str, path: str) -> Any:
            return self.resources[logical_id].physical_id

        def attribute(logical_id: str, name: str, path: str) -> Any:
            return self.resources[logical_id].data[name]

        return Resolver(Context(
            parameters=parameter_values(template.get("Parameters") or {}, parameters),
            pseudo={"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
                    "AWS::StackName": "colorapp", "AWS::StackId": STACK_ID, "AWS::URLSuffix": "amazonaws.com"},
            conditions=template.get("Conditions") or {}, mappings=template.get("Mappings") or {},
            resource_ref=ref, resource_attribute=attribute, import_value=lambda name, path: self.imports[name]))

    def _resolve(self, template: dict[str, Any], parameters: dict[str, str],
                 logical_id: str) -> tuple[dict[str, Any], str]:
        resource = template["Resources"][logical_id]
        properties = self._resolver(template, parameters).resolve(resource.get("Properties") or {}, "Properties")
        return _stringified(properties), resource["Type"]

    def _order(self, template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
        """The custom resources whose Condition holds, each after every resource it mentions."""
        resolver = self._resolver(template, parameters)
        resources = {lid: r for lid, r in template["Resources"].items() if r["Type"].startswith("Custom::")
                     and ("Condition" not in r or resolver.condition(r["Condition"], lid))}
        ordered: list[str] = []

        def visit(logical_id: str) -> None:
            if logical_id in ordered:
                return
            text = json.dumps(resources[logical_id])
            for other in resources:
                if other != logical_id and (f'"{other}"' in text or f"${{{other}." in text
                                            or f'"{other}.' in text):
                    visit(other)
            ordered.append(logical_id)

        for logical_id in resources:
            visit(logical_id)
        return ordered


def _stringified(value: Any) -> Any:
    """Custom resource properties as CloudFormation hands them over: every scalar a string."""
    if isinstance(value, dict):
        return {k: _stringified(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringified(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
