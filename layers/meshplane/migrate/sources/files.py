"""Read definition files and directories, telling the formats apart by content.

A path is a file or a directory (its `*.yaml`, `*.yml` and `*.json` files, recursively, in
name order).  A file holding one document with `Resources` is a CloudFormation template;
one whose documents are Kubernetes objects is a set of manifests (all manifests of one run
are read as one cluster, so references may cross files); one holding `describe-*` or
`list-*` outputs is an App Mesh API export.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from meshplane.migrate.desired import Desired
from meshplane.migrate.errors import Collector, InvalidSource, Origin, SourceError
from meshplane.migrate.sources import cfn_yaml, cloudformation, export, kubernetes

SUFFIXES = (".yaml", ".yml", ".json", ".template")


def expand(paths: Iterable[str]) -> list[Path]:
    """Every file the paths name, directories expanded; a missing path is a SourceError."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                raise InvalidSource([SourceError(Origin(raw, "directory"), None, "holds no .yaml, .yml or .json file")])
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidSource([SourceError(Origin(raw, "path"), None, "no such file or directory")])
    return files


def parse(path: Path) -> list[Any]:
    """The documents of a file: JSON, or YAML with CloudFormation's short-form tags."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(Origin(str(path), "file"), None, f"cannot be read: {exc}") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise SourceError(Origin(str(path), f"line {exc.lineno}"), None, f"invalid JSON: {exc.msg}") from None
    try:
        return cfn_yaml.load_all(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "file"
        raise SourceError(Origin(str(path), where), None, f"invalid YAML: {getattr(exc, 'problem', exc)}") from None


def load(paths: Iterable[str], options: cloudformation.StackOptions) -> list[Desired]:
    """The resources of every source file; InvalidSource lists every problem of every file."""
    errors = Collector()
    found: list[Desired] = []
    manifests: list[tuple[str, list[Any]]] = []
    exports: list[tuple[str, Any]] = []
    for path in expand(paths):
        documents = errors.run(None, partial(parse, path))
        if documents is None:
            continue
        source = str(path)
        content = [d for d in documents if d is not None]
        if len(content) == 1 and cloudformation.is_template(content[0]):
            _collect(errors, found, lambda s=source, d=content[0]: cloudformation.load(s, d, options))
        elif content and len(content) == 1 and export.is_export(content[0]):
            exports.append((source, content[0]))
        elif content and all(kubernetes.is_manifest(d) for d in content):
            manifests.append((source, content))
        else:
            errors.errors.append(SourceError(Origin(source, "file"), None, "is neither a CloudFormation template, "
                                             "Kubernetes manifests nor App Mesh describe-*/list-* output"))
    if manifests:
        _collect(errors, found, lambda: kubernetes.load_all(manifests))
    if exports:
        _collect(errors, found, lambda: export.load_all(exports))
    errors.raise_if_any()
    return found


def _collect(errors: Collector, found: list[Desired], step: Any) -> None:
    try:
        found.extend(step())
    except InvalidSource as invalid:
        errors.errors.extend(invalid.errors)
    except SourceError as error:
        errors.errors.append(error)
