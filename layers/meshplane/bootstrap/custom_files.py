"""The App Mesh image's custom config files: each replaces one bootstrap section with the user's own.

`ENVOY_TRACING_CFG_FILE` holds `tracing`, `ENVOY_STATS_CONFIG_FILE` holds `stats_config`,
`ENVOY_STATS_SINKS_CFG_FILE` holds `stats_sinks`; each may add `static_resources` (the clusters a
tracer or sink reports through). YAML or JSON, snake_case or camelCase keys, as the App Mesh image
read them. The content is parsed against Envoy's own protos here, so a typo stops the sidecar with
the file and the field named instead of a later Envoy refusal; any other key is refused, since
the file is not a way to rewrite the rest of the bootstrap.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from envoy.config.bootstrap.v3.bootstrap_pb2 import Bootstrap
from google.protobuf import descriptor_pool, json_format

from meshplane.bootstrap.options import BootstrapOptions

TYPE_URL_PREFIX = "type.googleapis.com/"
# variable -> (the section it replaces, the keys its file may hold)
SECTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "ENVOY_TRACING_CFG_FILE": ("tracing", frozenset({"tracing"})),
    "ENVOY_STATS_CONFIG_FILE": ("stats_config", frozenset({"stats_config", "statsConfig"})),
    "ENVOY_STATS_SINKS_CFG_FILE": ("stats_sinks", frozenset({"stats_sinks", "statsSinks"})),
}
_SHARED_KEYS = frozenset({"static_resources", "staticResources"})


def _type_names(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        type_url = document.get("@type")
        if isinstance(type_url, str):
            yield type_url.removeprefix(TYPE_URL_PREFIX)
        for value in document.values():
            yield from _type_names(value)
    elif isinstance(document, list):
        for value in document:
            yield from _type_names(value)


def _load_type(full_name: str) -> None:
    """Import the generated module that defines `full_name`, so `Any` fields holding it can be parsed."""
    pool = descriptor_pool.Default()
    parts = full_name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            pool.FindMessageTypeByName(full_name)
            return
        except KeyError:
            pass
        try:
            package = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for module in pkgutil.iter_modules(getattr(package, "__path__", [])):
            if module.name.endswith("_pb2"):
                importlib.import_module(f"{package.__name__}.{module.name}")


def _read(variable: str, path: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"{variable}={path!r}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{variable}={path!r}: is neither YAML nor JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(document, dict) or not document:
        raise ValueError(f"{variable}={path!r}: must be a mapping holding {SECTIONS[variable][0]}")
    return document


def load(variable: str, path: str) -> Bootstrap:
    """The partial bootstrap the file describes; ValueError naming the variable when it is unusable."""
    section, keys = SECTIONS[variable]
    document = _read(variable, path)
    stray = sorted(set(document) - keys - _SHARED_KEYS)
    if stray:
        raise ValueError(f"{variable}={path!r}: holds {', '.join(stray)}; it may hold only {section} "
                         "and static_resources")  # fmt: skip
    for name in _type_names(document):
        _load_type(name)
    partial = Bootstrap()
    try:
        json_format.ParseDict(document, partial)
    except json_format.ParseError as exc:
        raise ValueError(f"{variable}={path!r}: {' '.join(str(exc).split())}") from None
    present = len(partial.stats_sinks) > 0 if section == "stats_sinks" else partial.HasField(section)
    if not present:
        raise ValueError(f"{variable}={path!r}: holds no {section}")
    return partial


def apply(boot: Bootstrap, options: BootstrapOptions) -> None:
    """Merge each given file's section (and clusters) into `boot`; a cluster name already taken is refused."""
    given = (("ENVOY_TRACING_CFG_FILE", options.tracing_file), ("ENVOY_STATS_CONFIG_FILE", options.stats_config_file),
             ("ENVOY_STATS_SINKS_CFG_FILE", options.stats_sinks_file))  # fmt: skip
    for variable, path in given:
        if not path:
            continue
        partial = load(variable, path)
        taken = {c.name for c in boot.static_resources.clusters} | {li.name for li in boot.static_resources.listeners}
        clashes = sorted({c.name for c in partial.static_resources.clusters} & taken)
        clashes += sorted({li.name for li in partial.static_resources.listeners} & taken)
        if clashes:
            raise ValueError(f"{variable}={path!r}: defines {', '.join(clashes)}, a name the bootstrap already uses")
        boot.MergeFrom(partial)
