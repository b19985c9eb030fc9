"""CloudFormation YAML: the short-form tags (`!Ref`, `!Sub`, `!GetAtt a.b`...) read as their long forms."""

from __future__ import annotations

from typing import Any

import yaml


class TemplateLoader(yaml.SafeLoader):
    """A safe loader that reads `!Tag value` as `{"Fn::Tag": value}` (`!Ref` and `!Condition` keep their names)."""


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # YAML has no other kind of node
        raise TypeError(f"unexpected YAML node {node!r}")
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{suffix}": value}


TemplateLoader.add_multi_constructor("!", _construct)
# CloudFormation reads dates as strings: keep "2010-09-09" a string, not a datetime.date
TemplateLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_all(text: str) -> list[Any]:
    """Every document of `text` (a SafeLoader subclass: no arbitrary objects)."""
    return list(yaml.load_all(text, Loader=TemplateLoader))
