"""The account a cold-start sample runs in: a small mesh, published, as the sample events in `events/` name it.

A first invocation against an empty account takes paths a production cold start never
takes (no node to map a task to, no proxy to translate), so each sample runs in the world
its event arrives in:

- the mesh `colors`: nodes `blue` (HTTP 8080, discovered through the Cloud Map service
  `blue` of the namespace `colors.local`) and `front` (HTTP 9000, backend `colors.local`),
  the router `colors-router` with the route `colors-route` to blue, and the virtual
  service `colors.local` through that router; every proxy published once;
- in Cloud Map, blue's instance of the sample task (10.0.1.25:8080); in ECS, the cluster
  `colors` and the service `colors-blue`, whose task definition's Envoy names blue and
  whose registry is that Cloud Map service;
- the reconcile's marks as its last pass and a sweep a minute before left them.

Two states of the table and bucket (`WORLDS`): `published`, before the sample task's
endpoint reached the store (the ECS and Cloud Map events then write it), and `changed`,
where the changes the sample stream batch reports happened after the last publish (the
route's version 2 and blue's endpoint of that task), so the recompute and the shard
rebuild and publish front.

`python coldstart_world.py <folder>` builds both with meshplane's own code (the App Mesh API
in process, the reconcile's sweep, the ECS event's mapping) against in-process moto, in a
process of its own, and writes them as `<state>.json`: every table item and bucket object.
A sample's process loads one (`load`) with plain boto3 before its clock starts, so it imports
nothing of meshplane before the handler does.  Cloud Map and ECS are made in both
processes alike (`make_services`), since their ids are moto's.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

REGION = "us-east-1"
MESH = "colors"
NAMESPACE = "colors.local"
CLUSTER = "colors"
ECS_SERVICE = "colors-blue"
CLOUD_MAP_SERVICE = "blue"
TASK_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"  # the sample task of events/sqs_ecs_events_batch.json
TASK_ADDRESS = {"AWS_INSTANCE_IPV4": "10.0.1.25", "AWS_INSTANCE_PORT": "8080"}
WORLDS = {  # the state each handler's sample event arrives in
    "api": "changed",
    "cfn_macro": "changed",
    "cfn_provider": "changed",
    "cloudmap_events": "published",
    "ecs_events": "published",
    "recompute": "changed",
    "recompute_shard": "changed",
    "reconcile": "changed",
    "rollout": "changed",
}
MARKS_KEY = {"pk": {"S": "RECONCILE"}, "sk": {"S": "STATE"}}  # pipeline.reconcile_marks.MarkStore's item
MARKS_LOOK_BACK = 60  # pipeline.reconcile.MARGIN_SECONDS: a pass looks this far behind its last one
HTTP = {"portMapping": {"port": 8080, "protocol": "http"}}
RESOURCES: list[tuple[str, dict[str, Any]]] = [  # App Mesh calls, in order
    ("create_mesh", {"meshName": MESH}),
    ("create_virtual_node", {"virtualNodeName": "blue", "spec": {
        "listeners": [HTTP],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": NAMESPACE, "serviceName": CLOUD_MAP_SERVICE}}}}),
    ("create_virtual_node", {"virtualNodeName": "front", "spec": {
        "listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}],
        "backends": [{"virtualService": {"virtualServiceName": NAMESPACE}}],
        "serviceDiscovery": {"dns": {"hostname": f"front.{NAMESPACE}"}}}}),
    ("create_virtual_router", {"virtualRouterName": "colors-router", "spec": {"listeners": [HTTP]}}),
    ("create_route", {"virtualRouterName": "colors-router", "routeName": "colors-route", "spec": {"httpRoute": {
        "match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "blue", "weight": 1}]}}}}),
    ("create_virtual_service", {"virtualServiceName": NAMESPACE, "spec": {
        "provider": {"virtualRouter": {"virtualRouterName": "colors-router"}}}}),
]


# ---- Cloud Map and ECS (plain boto3, in both processes) ------------------------------------
def make_services(session: Any, *, registered: bool = True) -> str:
    """Blue's Cloud Map service (with the sample task's instance when `registered`) and the ECS service whose
    registry it is; the Cloud Map service's id, which the Cloud Map sample event is made to name."""
    sd = session.client("servicediscovery")
    sd.create_http_namespace(Name=NAMESPACE)
    namespace = next(n["Id"] for n in sd.list_namespaces()["Namespaces"] if n["Name"] == NAMESPACE)
    service = sd.create_service(Name=CLOUD_MAP_SERVICE, NamespaceId=namespace)["Service"]
    if registered:
        register_task(session, service["Id"])
    ecs = session.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(family=ECS_SERVICE, networkMode="awsvpc", containerDefinitions=[
        {"name": "app", "image": "example/colorapp:1", "memory": 256, "portMappings": [{"containerPort": 8080}]},
        {"name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1", "memory": 256,
         "environment": [{"name": "APPMESH_RESOURCE_ARN", "value": f"mesh/{MESH}/virtualNode/blue"}]},
    ])
    ecs.create_service(cluster=CLUSTER, serviceName=ECS_SERVICE, taskDefinition=ECS_SERVICE, desiredCount=0,
                       serviceRegistries=[{"registryArn": service["Arn"]}])
    return str(service["Id"])


def register_task(session: Any, service_id: str) -> None:
    """The sample task's instance, as ECS registers it in Cloud Map."""
    session.client("servicediscovery").register_instance(
        ServiceId=service_id, InstanceId=TASK_ID,
        Attributes={**TASK_ADDRESS, "AVAILABILITY_ZONE": "us-east-1a", "ECS_CLUSTER_NAME": CLUSTER,
                    "ECS_SERVICE_NAME": ECS_SERVICE, "ECS_TASK_DEFINITION_FAMILY": ECS_SERVICE})


def naming(event: dict[str, Any], service_id: str) -> dict[str, Any]:
    """`event` with the Cloud Map service id of its CloudTrail records replaced by this world's."""
    text = json.dumps(event)
    for record in event.get("Records", []):
        body = json.loads(record.get("body") or "{}")
        old = (body.get("detail") or {}).get("requestParameters", {}).get("serviceId") if body else None
        if old:
            text = text.replace(old, service_id)
    return dict(json.loads(text))


# ---- the stored state, written and loaded ----------------------------------------------------
def _encoded(value: Any) -> Any:
    """A DynamoDB attribute value as JSON: binary values in base64."""
    if isinstance(value, dict):
        return {k: (base64.b64encode(v).decode() if k == "B" else
                    [base64.b64encode(b).decode() for b in v] if k == "BS" else _encoded(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_encoded(v) for v in value]
    return value


def _decoded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (base64.b64decode(v) if k == "B" else
                    [base64.b64decode(b) for b in v] if k == "BS" else _decoded(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def dump(session: Any, table: str, bucket: str) -> dict[str, Any]:
    """Every item of `table` and object of `bucket`."""
    dynamodb, s3 = session.client("dynamodb"), session.client("s3")
    items = [_encoded(item) for page in dynamodb.get_paginator("scan").paginate(TableName=table)
             for item in page["Items"]]
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=entry["Key"])
            objects.append({"key": entry["Key"], "body": base64.b64encode(got["Body"].read()).decode(),
                            "contentType": got.get("ContentType", "binary/octet-stream")})
    return {"items": items, "objects": objects}


def load(session: Any, table: str, bucket: str, state: dict[str, Any], now: float | None = None) -> None:
    """Write `state` (`dump`'s) into `table` and `bucket`; the reconcile's last pass is put just ahead of `now`,
    so its look-back starts after this set-up: a pass then finds nothing changed, as most passes do."""
    dynamodb, s3 = session.client("dynamodb"), session.client("s3")
    moment = time.time() if now is None else now
    for item in state["items"]:
        item = _decoded(item)
        if item["pk"] == MARKS_KEY["pk"] and item["sk"] == MARKS_KEY["sk"]:
            item = {**item, "passedAt": {"N": repr(moment + MARKS_LOOK_BACK + 1)}, "sweptAt": {"N": repr(moment)}}
        dynamodb.put_item(TableName=table, Item=item)
    for obj in state["objects"]:
        s3.put_object(Bucket=bucket, Key=obj["key"], Body=base64.b64decode(obj["body"]),
                      ContentType=obj["contentType"])


# ---- the builder (meshplane's own code, in its own process) --------------------------------
def build(folder: Path) -> dict[str, Path]:
    """Both states, written to `folder`; the Lambda environment (table, bucket, bus) is the caller's."""
    import os

    import boto3
    import coldstart_first_call as first_call
    from moto import mock_aws

    env = os.environ
    table, bucket, bus = env["MESHPLANE_TABLE"], env["MESHPLANE_BUCKET"], env["MESHPLANE_BUS"]
    events = Path(__file__).resolve().parents[1] / "events"
    written: dict[str, Path] = {}
    with mock_aws():
        first_call.setup(table, bucket, bus)
        session = boto3.session.Session(region_name=REGION)
        service_id = make_services(session, registered=False)
        from meshplane.api.app import Api
        from meshplane.config import Settings
        from meshplane.migrate import inprocess
        from meshplane.pipeline.ecs_discovery import apply_task_event
        from meshplane.pipeline.runtime import Pipeline

        settings = Settings.from_env()
        appmesh = inprocess.client(Api.build(settings, session.client("dynamodb"), settings.limits), REGION)
        for call, params in RESOURCES:
            getattr(appmesh, call)(**({} if call == "create_mesh" else {"meshName": MESH}), **params)
        pipeline = Pipeline.from_env()
        swept = pipeline.reconcile(json.loads((events / "scheduled_event.json").read_text()), None)
        if sorted(swept["published"]) != [f"mesh/{MESH}/virtualNode/blue", f"mesh/{MESH}/virtualNode/front"]:
            raise RuntimeError(f"the sweep published {swept['published']}, not both nodes")
        written["published"] = _write(folder / "published.json", dump(session, table, bucket))
        route = dict(RESOURCES[4][1])
        appmesh.update_route(meshName=MESH, **route)  # version 2, as the sample stream batch says
        register_task(session, service_id)
        body = json.loads(json.loads((events / "sqs_ecs_events_batch.json").read_text())["Records"][0]["body"])
        applied = apply_task_event(body, pipeline.mapper(pipeline.directory()), pipeline.endpoints,
                                   pipeline.telemetry)
        if applied["nodes"] != {f"{MESH}/blue": "applied"}:
            raise RuntimeError(f"the sample task was not written as blue's endpoint: {applied}")
        written["changed"] = _write(folder / "changed.json", dump(session, table, bucket))
    return written


def _write(path: Path, state: dict[str, Any]) -> Path:
    path.write_text(json.dumps(state))
    return path


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print(json.dumps({state: str(path) for state, path in build(Path(sys.argv[1])).items()}))
