"""Build the pipeline's AWS clients and collaborators from Settings, once per Lambda container.

Nothing here runs at import time: the handlers call `Pipeline.from_env()` on
their first invocation and keep the result for the warm container.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, Protocol, overload

from meshplane.config import Settings

MAX_POOL_CONNECTIONS = 25  # per client: the shard function publishes this many proxies at once (`shards.IO_THREADS`)

if TYPE_CHECKING:
    from meshplane.pipeline.ports import Graph, StateLoader, Translator, Validator


class AwsClients(Protocol):
    """The boto3 clients the pipeline calls (each attribute is a botocore client, read-only)."""

    @property
    def dynamodb(self) -> Any: ...
    @property
    def s3(self) -> Any: ...
    @property
    def events(self) -> Any: ...
    @property
    def ecs(self) -> Any: ...
    @property
    def servicediscovery(self) -> Any: ...
    @property
    def ec2(self) -> Any: ...
    @property
    def acm(self) -> Any: ...
    @property
    def acm_pca(self) -> Any: ...
    @property
    def sqs(self) -> Any: ...


@dataclass(frozen=True)
class Clients:
    """Clients handed in explicitly (tests, the local runtime); ACM and SQS only where a test uses them."""

    dynamodb: Any
    s3: Any
    events: Any
    ecs: Any
    servicediscovery: Any
    ec2: Any
    acm: Any = None
    acm_pca: Any = None
    sqs: Any = None  # the shard queue (pipeline.shards), where one is configured

    @classmethod
    def create(cls, settings: Settings, env: Mapping[str, str] | None = None) -> AwsClients:
        """Production clients, each made on first use (see `SessionClients`)."""
        return SessionClients(settings, env)


def _service(name: str) -> Any:
    """A `SessionClients` attribute: the boto3 client of `name`, made on first use."""
    return cached_property(lambda self: self._client(name))


class SessionClients:
    """Clients with standard retries (throttling and 5xx are retried by botocore, with backoff), made on first use.

    Why lazily: importing boto3 and building a client costs a few hundred ms, and
    most handlers need two or three of the eight.  Against an emulator
    (`AWS_ENDPOINT_URL` set) the Cloud Map data-plane host prefix
    (`data-servicediscovery.`) is not injected, or the calls would miss it.
    """

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None) -> None:
        self._settings = settings
        self._env = dict(os.environ if env is None else env)

    @cached_property
    def _config(self) -> Any:
        from botocore.config import Config

        return Config(
            region_name=self._settings.region,
            retries={"mode": "standard", "max_attempts": self._settings.aws_max_attempts},
            max_pool_connections=MAX_POOL_CONNECTIONS,
        )

    @cached_property
    def _session(self) -> Any:
        return aws_session(self._settings.region)

    def _client(self, service: str, config: Any = None) -> Any:
        return self._session.client(service, config=config or self._config)

    dynamodb = _service("dynamodb")
    s3 = _service("s3")
    events = _service("events")
    ecs = _service("ecs")
    ec2 = _service("ec2")
    acm = _service("acm")
    acm_pca = _service("acm-pca")
    sqs = _service("sqs")

    @cached_property
    def servicediscovery(self) -> Any:
        from botocore.config import Config

        env = self._env
        emulated = bool(env.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_SERVICEDISCOVERY"))
        return self._client(
            "servicediscovery", self._config.merge(Config(inject_host_prefix=False)) if emulated else None
        )


def aws_session(region: str) -> Any:
    """A new boto3 session in `region` whose clients find their service models with `one_service_loader`.

    Every Lambda entry point makes its clients from one of these (the pipeline's `SessionClients`,
    the API's, the custom resource provider's), not from boto3's default session, whose loader lists
    every service folder before it loads a model.  The clients share the session's loader, so a model
    or the endpoint data two of them need is read once.
    """
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", one_service_loader(core.get_config_variable("data_path")))
    return boto3.session.Session(region_name=region, botocore_session=core)


def one_service_loader(data_path: str | None) -> Any:
    """botocore's data loader for `AWS_DATA_PATH` `data_path`, finding a service's model without listing them all.

    Why: before it loads a model of one type (`service-2`, `endpoint-rule-set-1`,
    `paginators-1`, ...), botocore's loader lists every service that has that type, to
    check the one asked for is among them: it opens each of the 400-odd service folders,
    about 11 ms per type here; a client needs two types and a paginator a third.  This
    one first looks in the asked-for service's own folders, where botocore would find
    it too; when that finds the type there, the check is answered by that service
    alone; when not, botocore's own path runs and raises what it always raised.
    Everything else (the search paths, caching, extras) is botocore's loader as is.
    """
    return _one_service_loader_class()(data_path)


@cache
def _one_service_loader_class() -> Callable[[str | None], Any]:
    from contextvars import ContextVar

    from botocore.exceptions import DataNotFoundError
    from botocore.loaders import Loader, create_loader

    # (loader, service, type) of the model load_service_model is loading in this thread, once found where it looked
    found: ContextVar[tuple[Loader, str, str] | None] = ContextVar("found", default=None)

    class OneServiceLoader(Loader):
        def load_service_model(self, service_name: str, type_name: str, api_version: Any | None = None) -> Any:
            try:
                self.list_api_versions(service_name, type_name)  # cached: botocore asks it next, unless versioned
            except DataNotFoundError:
                return super().load_service_model(service_name, type_name, api_version)
            token = found.set((self, service_name, type_name))
            try:
                return super().load_service_model(service_name, type_name, api_version)
            finally:
                found.reset(token)

        def list_available_services(self, type_name: str) -> list[str]:
            loading = found.get()
            if loading is not None and loading[0] is self and loading[2] == type_name:
                return [loading[1]]  # asked by load_service_model above, which only checks membership
            return super().list_available_services(type_name)

    def make(data_path: str | None) -> OneServiceLoader:
        paths = create_loader(data_path).search_paths  # AWS_DATA_PATH read as botocore reads it
        return OneServiceLoader(extra_search_paths=list(paths), include_default_search_paths=False)

    return make


@dataclass(frozen=True)
class Collaborators:
    """The parts owned elsewhere: resource store, graph, translator, validators."""

    loader: StateLoader
    graph: Graph
    translator: Translator
    validators: Sequence[Validator]

    @classmethod
    def default(cls, settings: Settings, clients: AwsClients) -> Collaborators:
        from meshplane.pipeline.ports import ModuleGraph, ModuleTranslator
        from meshplane.store.resources import ResourceStore

        return cls(
            loader=ResourceStore(
                settings.table, clients.dynamodb, region=settings.region, account=settings.account,
                partition=settings.partition,
            ),
            graph=ModuleGraph(),
            translator=ModuleTranslator(),
            validators=DefaultValidators(),
        )


class DefaultValidators(Sequence["Validator"]):
    """`validate.default_validators()`, looked up on first use.

    Why: finding Envoy imports the translator and its protos, which only a publish
    needs; the endpoint handlers (ECS and Cloud Map events) never publish.
    """

    @cached_property
    def _validators(self) -> tuple[Validator, ...]:
        from meshplane.pipeline.validate import default_validators

        return tuple(default_validators())

    @overload
    def __getitem__(self, index: int) -> Validator: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Validator]: ...

    def __getitem__(self, index: int | slice) -> Validator | Sequence[Validator]:
        return self._validators[index]

    def __len__(self) -> int:
        return len(self._validators)

    def __iter__(self) -> Iterator[Validator]:
        return iter(self._validators)
