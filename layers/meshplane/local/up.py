"""`meshplane local up`: emulator, deployed template, local Lambda runtime, API and ADS, until stopped."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshplane import envvars
from meshplane.config import DEFAULT_ACCOUNT
from meshplane.identity import local as local_identity
from meshplane.local import abort
from meshplane.local.deploy import Deployment, deploy
from meshplane.local.emulator import Emulator, EmulatorUnavailable
from meshplane.local.gateway import LocalGateway
from meshplane.local.invoker import FunctionPool, Invocation, base_environment, lambda_environment
from meshplane.local.plan import make_plan
from meshplane.local.sources import QueuePoller, ScheduleTimer, Source, StreamPoller
from meshplane.local.template import translate
from meshplane.local.trace import TRACE_FILE, InvocationTrace
from meshplane.localnet.loopback import accepts
from meshplane.localnet.processes import Restarting, Supervisor
from meshplane.localnet.waiting import wait_until

log = logging.getLogger("meshplane.local")
API_FUNCTION = "ApiFunction"
STATE_FILE = "state.json"
# A queue's MaximumConcurrency is played with at most this many pollers and warm workers: more processes
# than cores would only share them.
LOCAL_CONCURRENCY = os.cpu_count() or 1
ADS_READY_SECONDS = 60.0  # the ADS process imports the xDS protos and grpc before it listens


@dataclass(frozen=True)
class Options:
    template: Path
    stack_name: str
    host: str
    emulator_port: int
    api_port: int
    ads_port: int
    state_dir: Path
    region: str
    endpoint_url: str | None  # an existing emulator; None starts moto
    parameters: dict[str, str]
    schedule_interval: float | None
    stream_poll_interval: float
    retry_delay: int
    api_concurrency: int
    ads: bool
    profile_dir: Path | None = None  # cProfile every invocation into this directory
    api_authz: bool = False  # SigV4 authentication and IAM authorization of API calls, as deployed
    secure: bool = False  # ADS with TLS, node CA, required node identity and the credential exchange
    identity_port: int | None = None  # with `secure`: the exchange's port (default: the ADS port + 1)


def ads_available() -> bool:
    """`meshplane ads` exists only when the delivery package is installed."""
    import importlib.util

    return importlib.util.find_spec("meshplane.delivery.cli") is not None


class LocalUp:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.stop_event = threading.Event()
        self.emulator: Emulator | None = None
        self.deployment: Deployment | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.sources: list[Source] = []
        self.stream_pollers: list[StreamPoller] = []
        self.trace: InvocationTrace | None = None
        self._invokers: dict[str, Callable[[Any], Invocation]] = {}
        self.threads: list[threading.Thread] = []
        self.ads: Restarting | None = None
        self.server: Any = None
        self.ready = threading.Event()
        self.started_at = time.monotonic()
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        o = self.options
        o.state_dir.mkdir(parents=True, exist_ok=True)
        if o.profile_dir:
            o.profile_dir.mkdir(parents=True, exist_ok=True)
        self.trace = InvocationTrace(o.state_dir / TRACE_FILE)
        self._serve_api()  # /healthz answers 503 until everything is up
        if o.endpoint_url:
            self.emulator = Emulator(o.endpoint_url)
        else:
            with abort.deferred():
                self.emulator = Emulator.spawn(o.host, o.emulator_port, log=o.state_dir / "emulator.log")
        self.emulator.wait_ready()
        self._mark("emulator")
        os.environ.update(base_environment(self.emulator.endpoint_url, o.region))  # our own boto3 clients too
        translated = translate(o.template, o.parameters, o.region, DEFAULT_ACCOUNT)
        plan = make_plan(translated.body, translated.code_dirs, o.stack_name, o.region, DEFAULT_ACCOUNT)
        self.deployment = deploy(plan, o.stack_name, o.parameters, self._client)
        self._mark("stack")
        self._start_functions()
        self._start_ads()
        self._start_sources()
        for pool in self.pools.values():
            pool.wait_ready()
        self._mark("functions")
        self._wait_ads_listening()
        self.ready.set()
        self.write_state()

    def _mark(self, phase: str) -> None:
        self.timings[phase] = round(time.monotonic() - self.started_at, 3)
        log.info("%s ready after %.2fs", phase, self.timings[phase])

    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        assert self.emulator is not None
        return boto3.client(  # type: ignore[call-overload]  # boto3-stubs overload literal service names only
            service,
            endpoint_url=self.emulator.endpoint_url,
            region_name=self.options.region,
            config=Config(inject_host_prefix=False, retries={"mode": "standard"}),
        )

    def _serve_api(self) -> None:
        from meshplane.api.http import serve_in_thread

        gateway = LocalGateway(self._invoke_api, self.ready.is_set, self.function_stats)
        self.server, _ = serve_in_thread(gateway, self.options.host, self.options.api_port,
                                         authenticate=self._authenticator())

    def _authenticator(self) -> Any:
        """With --api-authz, API Gateway's IAM authorizer played by the emulator (its /healthz stays open)."""
        if not self.options.api_authz:
            return None
        from meshplane.api.authz import Unauthenticated
        from meshplane.local.gateway import FUNCTIONS_PATH, HEALTH_PATH
        from meshplane.local.gateway_auth import EmulatorAuthenticator

        def endpoint() -> str:
            if self.emulator is None:
                raise Unauthenticated("UnrecognizedClientException", "the local stack is starting: no emulator yet")
            return self.emulator.endpoint_url

        return EmulatorAuthenticator(endpoint, self.options.region,
                                     unauthenticated_paths=frozenset({HEALTH_PATH, FUNCTIONS_PATH}))

    def _invoke_api(self, event: dict[str, Any]) -> Invocation:
        pool = self.pools.get(API_FUNCTION)
        if pool is None:
            return Invocation(error={"errorType": "ResourceNotFound", "errorMessage": "no ApiFunction in template"})
        return self._invoke(API_FUNCTION)(event)

    def _invoke(self, lid: str) -> Callable[[Any], Invocation]:
        """The function's invoke, traced, that wakes the stream pollers when it returns: whatever the function
        wrote to a table is on the stream by then, so they read it now instead of after their poll interval."""
        if lid in self._invokers:
            return self._invokers[lid]
        assert self.trace is not None
        invoke = self.trace.wrap(lid, self.pools[lid].invoke)

        def invoke_and_wake(event: Any) -> Invocation:
            try:
                return invoke(event)
            finally:
                for poller in self.stream_pollers:
                    poller.wake.set()

        self._invokers[lid] = invoke_and_wake
        return invoke_and_wake

    def _start_functions(self) -> None:
        assert self.deployment is not None and self.emulator is not None
        base = base_environment(self.emulator.endpoint_url, self.options.region)
        concurrency = {q.function: min(max(q.concurrency, 1), LOCAL_CONCURRENCY) for q in self.deployment.queues}
        for lid, spec in self.deployment.functions.items():
            size = self.options.api_concurrency if lid == API_FUNCTION else concurrency.get(lid, 1)
            env = lambda_environment(spec, base, self.options.region)
            if lid == API_FUNCTION:  # off locally unless asked for, whatever the template says
                env[envvars.API_AUTHZ] = "iam" if self.options.api_authz else "off"
            pool = FunctionPool(spec, env, self.options.state_dir / f"{lid}.log", size, self.options.profile_dir)
            pool.start()
            self.pools[lid] = pool

    def _start_sources(self) -> None:
        assert self.deployment is not None
        o, sqs = self.options, self._client("sqs")
        for q in self.deployment.queues:  # one poller per concurrent invocation, as Lambda scales its pollers
            for _ in range(min(max(q.concurrency, 1), LOCAL_CONCURRENCY)):
                self.sources.append(QueuePoller(q, sqs, self._invoke(q.function), o.region, o.retry_delay))
        for s in self.deployment.streams:
            self.stream_pollers.append(StreamPoller(s, self._client("dynamodbstreams"), sqs, self._invoke(s.function),
                                                    o.region, o.stream_poll_interval))
        self.sources.extend(self.stream_pollers)
        for t in self.deployment.schedules:
            self.sources.append(ScheduleTimer(t, self._invoke(t.function), o.region, DEFAULT_ACCOUNT,
                                              o.schedule_interval))
        for source in self.sources:
            thread = threading.Thread(target=source.run, args=(self.stop_event,), name=source.name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def _start_ads(self) -> None:
        o = self.options
        if not o.ads or not ads_available():
            return
        assert self.deployment is not None and self.emulator is not None
        out = self.deployment.outputs
        if not {"SnapshotBucketName", "StateTableName", "ConfigPublishedQueueUrl"} <= out.keys():
            return  # a template without the ADS contract outputs
        argv = [sys.executable, "-m", "meshplane.cli", "ads", "--host", o.host, "--port", str(o.ads_port),
                "--bucket", out["SnapshotBucketName"], "--table", out["StateTableName"],
                "--queue-url", out["ConfigPublishedQueueUrl"]]
        if o.secure:
            argv += local_identity.ads_arguments(o.state_dir, o.ads_port, o.identity_port)
        env = {**base_environment(self.emulator.endpoint_url, o.region),
               envvars.TABLE: out["StateTableName"], envvars.BUCKET: out["SnapshotBucketName"],
               envvars.BUS: out["ConfigBusName"]}
        self.ads = Supervisor(o.state_dir).keep("ads", argv, env=env)

    def _wait_ads_listening(self) -> None:
        """Ready means a proxy can connect: the ADS port and, with --secure, the credential exchange accept."""
        if self.ads is None:
            return
        o = self.options
        ports = [o.ads_port]
        if o.secure:
            ports.append(int(local_identity.state(o.state_dir, o.ads_port, o.identity_port)["identityPort"]))
        wait_until(lambda: all(accepts(o.host, port, timeout=1) for port in ports), ADS_READY_SECONDS, interval=0.1,
                   what=f"the ADS server to listen on {ports}")  # fmt: skip
        self._mark("ads")

    # ------------------------------------------------------------------ state
    def function_stats(self) -> dict[str, Any]:
        return {lid: pool.stats.to_json() for lid, pool in self.pools.items()}

    def state(self) -> dict[str, Any]:
        o, d = self.options, self.deployment
        return {
            "pid": os.getpid(),
            "stackName": o.stack_name,
            "region": o.region,
            "endpointUrl": self.emulator.endpoint_url if self.emulator else None,
            "emulatorPid": self.emulator.process.pid if self.emulator and self.emulator.process else None,
            "apiUrl": f"http://{o.host}:{self.server.server_address[1]}",
            "adsPort": o.ads_port if self.ads else None,
            "adsPid": self.ads.pid if self.ads else None,
            "adsRestarts": self.ads.restarts if self.ads else 0,
            "adsIdentity": local_identity.state(o.state_dir, o.ads_port, o.identity_port) if o.secure else None,
            "outputs": d.outputs if d else {},
            "functions": {lid: pool.spec.name for lid, pool in self.pools.items()},
            "workerPids": sorted(w._process.pid for p in self.pools.values() for w in p._all if w._process),
            "timings": self.timings,
        }

    def write_state(self) -> None:
        path = self.options.state_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state(), indent=2))
        tmp.replace(path)

    # ------------------------------------------------------------------ run / stop
    def wait(self) -> None:
        last = json.dumps(self.state(), sort_keys=True)
        while not self.stop_event.wait(0.5):
            now = json.dumps(self.state(), sort_keys=True)
            if now != last:  # e.g. the ADS server was restarted with a new pid
                self.write_state()
                last = now

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(3)
        if self.ads:
            self.ads.stop()
        for pool in self.pools.values():
            pool.stop()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.emulator:
            self.emulator.stop()
        if self.trace is not None:
            self.trace.close()
        (self.options.state_dir / STATE_FILE).unlink(missing_ok=True)


def run(options: Options) -> int:
    """Foreground until SIGINT/SIGTERM; everything started is stopped on the way out."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    up = LocalUp(options)

    def on_signal(*_: object) -> None:
        up.stop_event.set()
        abort.on_signal()  # during startup: raises StartupAborted in the main thread

    abort.arm()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        up.start()
        abort.disarm()
        log.info("meshplane local up: API %s, emulator %s", up.state()["apiUrl"], up.state()["endpointUrl"])
        up.wait()
    except abort.StartupAborted:
        log.info("stop signal during startup: aborted after %.2fs", time.monotonic() - up.started_at)
    except EmulatorUnavailable as exc:
        log.error("cannot start: %s", exc)
        return 1
    finally:
        abort.disarm()
        up.stop()
    return 0
