"""The API handler: an API Gateway REST (v1 proxy) event in, a proxy response out.

The same `Api.handle` serves Lambda behind API Gateway and the local HTTP
server, so both behave identically.  Client mistakes are 4xx App Mesh errors;
anything unexpected is logged and returned as InternalServerErrorException.
With a `Telemetry`, every request is logged, counted, timed and traced by
Powertools (`meshplane.api.observe`); without one it runs bare.

meshplane's own APIs (policies, rollouts, proxy reads: `policy_api`, `rollout_api`,
`proxy_status`) are imported and built on their first request: importing them costs more CPU
than everything an App Mesh call needs, and a Lambda container serving App Mesh calls never
uses them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from meshplane.api import responses
from meshplane.api.binding import bind
from meshplane.api.operations import Operations
from meshplane.api.routes import ProxyRoute, match, match_proxy_read
from meshplane.config import Settings
from meshplane.model.ids import Kind
from meshplane.store.errors import BadRequest, InternalServerError, MeshplaneError
from meshplane.store.limits import Limits
from meshplane.store.resources import ResourceStore

if TYPE_CHECKING:
    from meshplane.api.authz import Authorizer
    from meshplane.api.permissions import Check
    from meshplane.api.policy_api import PolicyOperations, Route
    from meshplane.api.proxy_status import ProxyReads
    from meshplane.api.rollout_api import RolloutOperations
    from meshplane.pipeline.telemetry import Telemetry
    from meshplane.publication.bucket import SnapshotSource

HEALTH_PATH = "/healthz"
# Every path of the Policy and Rollout APIs starts with this (`policy_api.owns`, `rollout_api.owns`), and
# no App Mesh path does: any other request is routed without importing either.
EXTENSIONS_PREFIX = "/meshplane/v1/meshes/"
HEALTH_OPERATION = "Health"
UNKNOWN_OPERATION = "UnknownOperation"  # no route matched: one value, so metrics stay low-cardinality
log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Served:
    """A response and what observability needs to know about it, never the request body."""

    response: dict[str, Any]
    operation: str
    error_type: str | None = None
    failure: Exception | None = None  # an unexpected exception, logged with its traceback

    @property
    def status(self) -> int:
        return int(self.response["statusCode"])


class Api:
    """Routes, binds and runs App Mesh requests against one ResourceStore."""

    def __init__(self, store: ResourceStore, telemetry: Telemetry | None = None,
                 authorizer: Authorizer | None = None, snapshots: Callable[[], SnapshotSource] | None = None) -> None:
        """`snapshots`: the published snapshots, opened on first use (a proxy's config read needs them)."""
        self.operations = Operations(store)
        self.telemetry = telemetry
        self.authorizer = authorizer  # None: API Gateway's execute-api:Invoke is the only check
        self._store, self._snapshots = store, snapshots
        self._extensions: dict[str, Any] = {}  # meshplane's own APIs, by attribute, once built
        self._building = threading.Lock()  # the local server serves requests on concurrent threads

    @property
    def proxies(self) -> ProxyReads:
        """meshplane's proxy reads (`api.proxy_status`), built on first use."""

        def build() -> ProxyReads:
            from meshplane.api.proxy_status import ProxyReads

            return ProxyReads(self._store, self._snapshots)

        return self._once("proxies", build)

    @property
    def policies(self) -> PolicyOperations:
        """The Policy API's operations (`api.policy_api`), built on first use."""

        def build() -> PolicyOperations:
            from meshplane.api.policy_api import PolicyOperations

            return PolicyOperations(self._store)

        return self._once("policies", build)

    @property
    def rollouts(self) -> RolloutOperations:
        """The Rollout API's operations (`api.rollout_api`), built on first use."""

        def build() -> RolloutOperations:
            from meshplane.api.rollout_api import RolloutOperations

            return RolloutOperations(self._store)

        return self._once("rollouts", build)

    def _once(self, name: str, build: Callable[[], T]) -> T:
        """`build()`'s result, made by the first caller only: concurrent first requests share one."""
        built: T | None = self._extensions.get(name)
        if built is None:
            with self._building:
                built = self._extensions.get(name)
                if built is None:
                    built = self._extensions[name] = build()
        return built

    @classmethod
    def build(cls, settings: Settings, client: Any, limits: Limits | None = None,
              telemetry: Telemetry | None = None) -> Api:
        store = ResourceStore(
            settings.table, client, region=settings.region, account=settings.account, partition=settings.partition,
            limits=limits or Limits(),
        )
        return cls(store, telemetry, _authorizer(settings, store), _snapshots(settings))

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """The proxy response; `context` is Lambda's, or None for the local server."""
        if self.telemetry is not None:
            from meshplane.api.observe import observed

            return observed(self.telemetry, self.serve, event, context)
        served = self.serve(event)
        if served.failure is not None:
            log.error("unexpected failure serving %s", served.operation, exc_info=served.failure)
        return served.response

    def serve(self, event: Mapping[str, Any]) -> Served:
        method = str(event.get("httpMethod") or "GET").upper()
        path = str(event.get("path") or "/")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return Served(responses.plain(200, {"status": "ok"}), HEALTH_OPERATION)
        operation = UNKNOWN_OPERATION
        try:
            proxy_read = match_proxy_read(method, path)
            if proxy_read is not None:
                operation = proxy_read[0].name
                return Served(self._proxy_read(event, *proxy_read), operation)
            if path.startswith(EXTENSIONS_PREFIX):
                from meshplane.api import policy_api, rollout_api

                if rollout_api.owns(path):
                    route, labels = policy_api.match(method, path, rollout_api.ROUTES)
                    operation = route.name
                    return Served(self._rollout(event, route, labels), operation)
                if policy_api.owns(path):
                    route, labels = policy_api.match(method, path)
                    operation = route.name
                    return Served(self._policy(event, route, labels), operation)
            op, labels = match(method, path)
            operation = op.name
            inp = bind(op, labels, _query(event), _body(event))
            with self._span(op.name):
                if self.authorizer is not None:
                    self.authorizer.authorize(event, op.name, inp)
                output = self.operations.run(op, inp)
            return Served(responses.success(output, op.output_payload), operation)
        except MeshplaneError as exc:
            return Served(responses.error(exc), operation, responses.error_type(exc))
        except Exception as exc:
            internal = InternalServerError("internal error; the request may be retried")
            return Served(responses.error(internal), operation, responses.error_type(internal), exc)

    def _policy(self, event: Mapping[str, Any], route: Route, labels: dict[str, str]) -> dict[str, Any]:
        """A call of the Policy extension API (`api.policy_api`): bound, authorized and run like App Mesh's."""
        from meshplane.api import policy_api

        inp = policy_api.bind(route, labels, _query(event), _body(event))
        with self._span(route.name):
            if self.authorizer is not None:
                self.authorizer.authorize_policy(event, route.name, inp)
            output = self.policies.run(route.name, inp)
        return responses.success(output, None)

    def _rollout(self, event: Mapping[str, Any], route: Route, labels: dict[str, str]) -> dict[str, Any]:
        """A call of the Rollout extension API (`api.rollout_api`), bound and answered as the Policy API's."""
        from meshplane.api import policy_api, rollout_api

        inp = policy_api.bind(route, labels, _query(event), _body(event))
        with self._span(route.name):
            if self.authorizer is not None:
                self.authorizer.authorize_checks(event, rollout_api.checks(route.name, inp, self.rollouts.resources))
            output = self.rollouts.run(route.name, inp)
        return responses.success(output, None)

    def _proxy_read(self, event: Mapping[str, Any], route: ProxyRoute, labels: dict[str, str]) -> dict[str, Any]:
        """meshplane's own proxy reads (`api.proxy_status`), authorized as the App Mesh reads are."""

        def authorize(checks: Sequence[Check]) -> None:
            if self.authorizer is not None:
                self.authorizer.authorize_checks(event, checks)

        mesh = labels["meshName"]
        with self._span(route.name):
            if route.name == "ListProxies":
                return responses.plain(200, self.proxies.list_proxies(mesh, _query(event), authorize, time.time()))
            kind = Kind.VIRTUAL_NODE if "virtualNodeName" in labels else Kind.VIRTUAL_GATEWAY
            name = labels.get("virtualNodeName") or labels["virtualGatewayName"]
            return responses.plain(200, self.proxies.proxy_config(mesh, kind, name, authorize))

    def _span(self, name: str) -> contextlib.AbstractContextManager[Any]:
        """An X-Ray subsegment named after the operation (a no-op when tracing is off)."""
        return contextlib.nullcontext() if self.telemetry is None else self.telemetry.traced(name)


def _authorizer(settings: Settings, store: ResourceStore) -> Authorizer | None:
    """With `MESHPLANE_API_AUTHZ=iam`, the caller's IAM policies decide every call (`api.authz`)."""
    if settings.api_authz != "iam":
        return None
    from meshplane.api.authz import Authorizer
    from meshplane.pipeline.wiring import aws_session

    return Authorizer(aws_session(settings.region).client("iam"), store)


def _snapshots(settings: Settings) -> Callable[[], SnapshotSource]:
    """The stack's snapshot bucket, its S3 client made on first use."""

    def opened() -> SnapshotSource:
        from meshplane.pipeline.wiring import aws_session
        from meshplane.store.s3objects import snapshot_bucket

        return snapshot_bucket(aws_session(settings.region).client("s3"), settings.bucket)

    return opened


def _query(event: Mapping[str, Any]) -> dict[str, Sequence[str]]:
    multi = event.get("multiValueQueryStringParameters")
    if multi:
        return {k: list(v) for k, v in multi.items()}
    single = event.get("queryStringParameters") or {}
    return {k: [v] for k, v in single.items()}


def _body(event: Mapping[str, Any]) -> bytes | None:
    body = event.get("body")
    if body is None:
        return None
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("body: invalid base64 encoding") from None
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
