"""Build the pipeline's AWS clients and collaborators from Settings, once per Lambda container.

Nothing here runs at import time: the handlers call `Pipeline.from_env()` on
their first invocation and keep the result for the warm container.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
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
        import boto3

        return boto3.session.Session(region_name=self._settings.region)

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
