"""Run inside a fresh interpreter: import one handler and invoke it once against in-process moto.

Prints one JSON line.  moto's import (which loads boto3 and botocore) and the setup of
the table, bucket and bus (and one call to every other service a handler uses, so
moto's backends are loaded) happen before the clock starts, through their own boto3
session so no service model is cached for the handler; the clock then covers
`import app` and the first `app.handler(event, context)`, which is where the handlers
pay for boto3 clients, Powertools and the shapes (they defer them out of INIT).

`python coldstart_first_call.py <function> <event file | -> [--world FILE] [--freeze-setup] [--profile FILE]`.
`--world FILE` (a state `coldstart_world.py` wrote) loads the small published mesh the sample
events name, with its Cloud Map and ECS services, before the clock starts (`coldstart_world`
says what each handler's world holds); without it the account is empty.  With
`--freeze-setup`, what moto and the set-up left on the heap
is frozen (`gc.freeze()`) before the clock starts, so the garbage collector's full
collections during the call walk only the handler's own objects, as in Lambda, where
no moto is loaded.  `--profile FILE` writes pyinstrument's text profile of the timed
part (import + first call) to FILE; the profiler's overhead then inflates the times.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


class Context:
    """What the Lambda runtime passes as `context`."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = REQUEST_ID
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "2026/11/25/[$LATEST]bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def api_event() -> dict[str, Any]:
    """An API Gateway REST proxy event for ListMeshes, as the `appmesh` client sends it."""
    path = "/v20190125/meshes"
    headers = {
        "Host": "appmesh.us-east-1.amazonaws.com",
        "User-Agent": "Boto3/1.35 botocore/1.35",
        "Accept-Encoding": "identity",
    }
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": REQUEST_ID,
            "httpMethod": "GET",
            "path": path,
            "stage": "prod",
            "resourcePath": "/{proxy+}",
        },
    }


def setup(table: str, bucket: str, bus: str) -> None:
    import boto3

    session = boto3.session.Session(region_name="us-east-1")
    session.client("dynamodb").create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    session.client("s3").create_bucket(Bucket=bucket)
    session.client("events").create_event_bus(Name=bus)
    # moto loads a service's backend on its first request: make that happen here, off the clock.
    session.client("ecs").list_clusters()
    session.client("servicediscovery").list_namespaces()
    session.client("ec2").describe_availability_zones()


def seed(world: Path, event: dict[str, Any]) -> dict[str, Any]:
    """Load the state `world` into the set-up account, with Cloud Map and ECS as the world has them (plain boto3,
    so nothing of meshplane is loaded); `event` naming this world's Cloud Map service."""
    import os

    import boto3
    import coldstart_world

    session = boto3.session.Session(region_name="us-east-1")
    service_id = coldstart_world.make_services(session)
    coldstart_world.load(session, os.environ["MESHPLANE_TABLE"], os.environ["MESHPLANE_BUCKET"],
                         json.loads(world.read_text()))
    return coldstart_world.naming(event, service_id)


def answer_on_loopback(event: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation custom resource request, its response URL a loopback server that takes the PUT."""
    if "ResponseURL" not in event:
        return event
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Accept(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return {**event, "ResponseURL": f"http://127.0.0.1:{server.server_address[1]}/response"}


def _start_profiler() -> Any:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    return profiler


def main() -> None:
    import os

    function, event_file = sys.argv[1], sys.argv[2]
    options = sys.argv[3:]
    freeze_setup = "--freeze-setup" in options
    world = Path(options[options.index("--world") + 1]) if "--world" in options else None
    profile = Path(options[options.index("--profile") + 1]) if "--profile" in options else None
    event = api_event() if event_file == "-" else json.loads(Path(event_file).read_text())
    event = answer_on_loopback(event)
    started = time.perf_counter()
    from moto import mock_aws

    moto_ms = (time.perf_counter() - started) * 1000
    with mock_aws():
        setup(os.environ["MESHPLANE_TABLE"], os.environ["MESHPLANE_BUCKET"], os.environ["MESHPLANE_BUS"])
        if world is not None:
            event = seed(world, event)
        if freeze_setup:
            import gc

            gc.collect()
            gc.freeze()
        profiler = _start_profiler() if profile else None
        clock, cpu = time.perf_counter(), time.process_time()
        import app  # type: ignore[import-not-found]

        imported = time.perf_counter()
        result = app.handler(event, Context())
        done, cpu_done = time.perf_counter(), time.process_time()
        if profile and profiler:
            profiler.stop()
            profile.write_text(profiler.output_text(unicode=False, color=False))
    failed = (
        bool(result.get("batchItemFailures")) or int(result.get("statusCode", 200)) >= 500 or bool(result.get("failed"))
    )
    print(
        json.dumps(
            {
                "function": function,
                "moto_import_ms": moto_ms,
                "import_ms": (imported - clock) * 1000,
                "first_call_ms": (done - imported) * 1000,
                "total_ms": (done - clock) * 1000,
                "total_cpu_ms": (cpu_done - cpu) * 1000,  # this process's CPU time: steadier on a busy machine
                "failed": failed,
            }
        )
    )


if __name__ == "__main__":
    main()
