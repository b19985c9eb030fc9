"""CloudFormation's intrinsic functions, resolved offline as CloudFormation resolves them at deploy time.

App Mesh templates name things with `Ref`, `Fn::GetAtt`, `Fn::Sub` (both forms), `Fn::Join`,
`Fn::If` over `Conditions` (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`),
`Fn::ImportValue`, `Fn::FindInMap`, `Fn::Select` and `Fn::Split`.  Whatever only a deployment
knows (another resource's physical id, an export) comes from callbacks the caller supplies;
an intrinsic that cannot be resolved offline is a SourceError naming the path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meshplane.migrate.errors import SourceError

NO_VALUE = object()  # AWS::NoValue: the property or list item disappears
SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
LIST_PARAMETER_TYPES = ("CommaDelimitedList", "List<")
UNSUPPORTED = ("Fn::Base64", "Fn::GetAZs", "Fn::Cidr", "Fn::Length", "Fn::ToJsonString", "Fn::Transform",
               "Fn::ForEach")


@dataclass
class Context:
    """What a template's intrinsics may read: parameters, pseudo parameters, conditions and mappings,
    and the callbacks for values only a deployment knows."""

    parameters: Mapping[str, Any]
    pseudo: Mapping[str, Any]
    conditions: Mapping[str, Any] = field(default_factory=dict)  # raw condition expressions
    mappings: Mapping[str, Any] = field(default_factory=dict)
    resource_ref: Callable[[str, str], Any] | None = None  # (logical id, path) -> Ref value
    resource_attribute: Callable[[str, str, str], Any] | None = None  # (logical id, attribute, path) -> value
    import_value: Callable[[str, str], Any] | None = None  # (export name, path) -> value
    _evaluated: dict[str, bool] = field(default_factory=dict)
    _evaluating: set[str] = field(default_factory=set)


class Resolver:
    """Resolves every intrinsic in a template fragment; `resolve(node, path)` returns plain data."""

    def __init__(self, context: Context) -> None:
        self.context = context

    # --- public ------------------------------------------------------------------------------

    def resolve(self, node: Any, path: str) -> Any:
        """`node` with every intrinsic replaced by its value; NO_VALUE items dropped."""
        value = self._resolve(node, path)
        return None if value is NO_VALUE else value

    def condition(self, name: str, path: str) -> bool:
        """The value of the named condition of the template's `Conditions` section."""
        context = self.context
        if name in context._evaluated:
            return context._evaluated[name]
        if name not in context.conditions:
            raise SourceError(None, path, f"condition {name!r} is not defined in Conditions")
        if name in context._evaluating:
            raise SourceError(None, path, f"condition {name!r} refers to itself")
        context._evaluating.add(name)
        try:
            value = self._boolean(context.conditions[name], f"Conditions.{name}")
        finally:
            context._evaluating.discard(name)
        context._evaluated[name] = value
        return value

    # --- the walk ----------------------------------------------------------------------------

    def _resolve(self, node: Any, path: str) -> Any:
        if isinstance(node, list):
            items = (self._resolve(item, f"{path}[{i}]") for i, item in enumerate(node))
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (name, argument), = node.items()
            function = _FUNCTIONS.get(name)
            if function is not None:
                return function(self, argument, f"{path}.{name}" if path else name)
            if name in UNSUPPORTED:
                raise SourceError(None, path, f"{name} cannot be resolved offline")
        resolved = {key: self._resolve(value, f"{path}.{key}" if path else key) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _boolean(self, node: Any, path: str) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            (name, argument), = node.items()
            if name == "Condition":
                return self.condition(_string(argument, path), path)
            if name == "Fn::Equals":
                left, right = _arguments(argument, 2, path, name)
                return _text(self._resolve(left, path)) == _text(self._resolve(right, path))
            if name == "Fn::Not":
                (inner,) = _arguments(argument, 1, path, name)
                return not self._boolean(inner, f"{path}.Fn::Not")
            if name in ("Fn::And", "Fn::Or"):
                if not isinstance(argument, list) or not 2 <= len(argument) <= 10:
                    raise SourceError(None, path, f"{name} takes 2 to 10 conditions")
                values = [self._boolean(item, f"{path}.{name}[{i}]") for i, item in enumerate(argument)]
                return all(values) if name == "Fn::And" else any(values)
        raise SourceError(None, path, f"not a condition: {_shown(node)}")

    # --- functions ---------------------------------------------------------------------------

    def _ref(self, argument: Any, path: str) -> Any:
        name = _string(argument, path)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.context.pseudo:
            return self.context.pseudo[name]
        if name.startswith("AWS::"):
            raise SourceError(None, path, f"pseudo parameter {name} is not known offline")
        if name in self.context.parameters:
            return self.context.parameters[name]
        if self.context.resource_ref is None:
            raise SourceError(None, path, f"{name!r} is neither a parameter nor a resource")
        return self.context.resource_ref(name, path)

    def _get_att(self, argument: Any, path: str) -> Any:
        if isinstance(argument, str):
            resource, _, attribute = argument.partition(".")
        elif isinstance(argument, list) and len(argument) == 2:
            resource = _string(argument[0], path)
            attribute = _string(self._resolve(argument[1], path), path)
        else:
            raise SourceError(None, path, "takes [LogicalId, Attribute] or 'LogicalId.Attribute'")
        if not resource or not attribute:
            raise SourceError(None, path, "takes [LogicalId, Attribute] or 'LogicalId.Attribute'")
        if self.context.resource_attribute is None:
            raise SourceError(None, path, f"resource {resource!r} is not known offline")
        return self.context.resource_attribute(resource, attribute, path)

    def _sub(self, argument: Any, path: str) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text = _string(argument[0], path)
            variables = {k: self._resolve(v, f"{path}[1].{k}") for k, v in argument[1].items()}
        else:
            raise SourceError(None, path, "takes a string or [string, {variables}]")

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is written as ${Literal}
            if name in variables:
                return _text(variables[name], path)
            if "." in name and not name.startswith("AWS::"):
                resource, _, attribute = name.partition(".")
                return _text(self._get_att([resource, attribute], path), path)
            return _text(self._ref(name, path), path)

        return SUB_VARIABLE.sub(replace, text)

    def _join(self, argument: Any, path: str) -> str:
        delimiter, items = _arguments(argument, 2, path, "Fn::Join")
        values = self._resolve(items, path)
        if not isinstance(values, list):
            raise SourceError(None, path, "Fn::Join takes [delimiter, [values]]")
        return _string(delimiter, path).join(_text(v, path) for v in values)

    def _if(self, argument: Any, path: str) -> Any:
        name, when_true, when_false = _arguments(argument, 3, path, "Fn::If")
        chosen = when_true if self.condition(_string(name, path), path) else when_false
        return self._resolve(chosen, path)

    def _select(self, argument: Any, path: str) -> Any:
        index, items = _arguments(argument, 2, path, "Fn::Select")
        position = self._resolve(index, path)
        values = self._resolve(items, path)
        try:
            return values[int(position)]
        except (ValueError, TypeError, IndexError):
            raise SourceError(None, path, f"index {position!r} is not in {_shown(values)}") from None

    def _split(self, argument: Any, path: str) -> list[str]:
        delimiter, text = _arguments(argument, 2, path, "Fn::Split")
        return _text(self._resolve(text, path), path).split(_string(delimiter, path))

    def _find_in_map(self, argument: Any, path: str) -> Any:
        names = [_text(self._resolve(a, path), path) for a in _arguments(argument, 3, path, "Fn::FindInMap")]
        node: Any = self.context.mappings
        for name in names:
            if not isinstance(node, dict) or name not in node:
                raise SourceError(None, path, f"Mappings has no {'.'.join(names)}")
            node = node[name]
        return node

    def _import_value(self, argument: Any, path: str) -> Any:
        name = _text(self._resolve(argument, path), path)
        if self.context.import_value is None:
            raise SourceError(None, path, f"export {name!r} is not known offline")
        return self.context.import_value(name, path)


_FUNCTIONS: dict[str, Callable[[Resolver, Any, str], Any]] = {
    "Ref": Resolver._ref,
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Sub": Resolver._sub,
    "Fn::Join": Resolver._join,
    "Fn::If": Resolver._if,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::FindInMap": Resolver._find_in_map,
    "Fn::ImportValue": Resolver._import_value,
}


def parameter_values(declared: Mapping[str, Any], given: Mapping[str, str], path: str = "Parameters") -> dict[str, Any]:
    """Each declared parameter's value: the given one, else its Default; list types split on commas."""
    values: dict[str, Any] = {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise SourceError(None, path, f"--parameter {unknown[0]}: the template declares no such parameter")
    for name, declaration in declared.items():
        declaration = declaration if isinstance(declaration, dict) else {}
        if name in given:
            value: Any = given[name]
        elif "Default" in declaration:
            value = declaration["Default"]
        else:
            raise SourceError(None, f"{path}.{name}", "has no Default: pass --parameter " f"{name}=VALUE")
        allowed = declaration.get("AllowedValues")
        if isinstance(allowed, list) and _text(value, path) not in [_text(a, path) for a in allowed]:
            raise SourceError(None, f"{path}.{name}", f"{value!r} is not one of AllowedValues {allowed}")
        kind = str(declaration.get("Type", "String"))
        if kind.startswith(LIST_PARAMETER_TYPES) and isinstance(value, str):
            value = [item.strip() for item in value.split(",")] if value else []
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # CloudFormation passes every Number parameter as a string
        values[name] = value
    return values


def _arguments(argument: Any, count: int, path: str, name: str) -> list[Any]:
    if not isinstance(argument, list) or len(argument) != count:
        raise SourceError(None, path, f"{name} takes a list of {count}")
    return argument


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise SourceError(None, path, f"must be a string here, got {_shown(value)}")
    return value


def _text(value: Any, path: str = "") -> str:
    """A resolved scalar as CloudFormation writes it into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise SourceError(None, path, f"must resolve to a string, got {_shown(value)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
