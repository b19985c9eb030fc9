"""Build the pipeline's AWS clients and collaborators from Settings, once per Lambda container.

Nothing here runs at import time: the handlers call `Pipeline.from_env()` on
their first invocation and keep the result for the warm container.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshplane.config import Settings
from meshplane.pipeline.ports import Graph, StateLoader, Translator, Validator


@dataclass(frozen=True)
class Clients:
    dynamodb: Any
    s3: Any
    events: Any
    ecs: Any
    servicediscovery: Any
    ec2: Any

    @classmethod
    def create(cls, settings: Settings, env: Mapping[str, str] | None = None) -> Clients:
        """Clients with standard retries (throttling and 5xx are retried by botocore, with backoff).

        Against an emulator (`AWS_ENDPOINT_URL` set) the Cloud Map data-plane host
        prefix (`data-servicediscovery.`) is not injected, or the calls would miss it.
        """
        import boto3
        from botocore.config import Config

        env = os.environ if env is None else env
        retries = {"mode": "standard", "max_attempts": int(env.get("MESHPLANE_AWS_MAX_ATTEMPTS", "5"))}
        config = Config(region_name=settings.region, retries=retries)  # type: ignore[arg-type]
        emulated = bool(env.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_SERVICEDISCOVERY"))
        sd_config = config.merge(Config(inject_host_prefix=False)) if emulated else config
        session = boto3.session.Session(region_name=settings.region)
        return cls(
            dynamodb=session.client("dynamodb", config=config),
            s3=session.client("s3", config=config),
            events=session.client("events", config=config),
            ecs=session.client("ecs", config=config),
            servicediscovery=session.client("servicediscovery", config=sd_config),
            ec2=session.client("ec2", config=config),
        )


@dataclass(frozen=True)
class Collaborators:
    """The parts owned elsewhere: resource store, graph, translator, validators."""

    loader: StateLoader
    graph: Graph
    translator: Translator
    validators: Sequence[Validator]

    @classmethod
    def default(cls, settings: Settings, clients: Clients) -> Collaborators:
        from meshplane.pipeline.ports import ModuleGraph, ModuleTranslator
        from meshplane.pipeline.validate import default_validators
        from meshplane.store.resources import ResourceStore

        return cls(
            loader=ResourceStore(settings.table, clients.dynamodb, region=settings.region, account=settings.account),
            graph=ModuleGraph(),
            translator=ModuleTranslator(),
            validators=default_validators(),
        )
