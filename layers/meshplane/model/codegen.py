"""Generate `shapes.py`: pydantic v2 models for every App Mesh 2019-01-25 shape.

The botocore service model is the wire-format authority, so the models are
generated from it rather than typed by hand: every member, enum, range, length
and union of the real API is then present by construction.  Run
``python -m meshplane.model.codegen`` after a botocore upgrade; a test fails when
the committed file drifts from the model.

Three kinds of limit the shapes alone do not state are generated too, so the
API edge refuses what the store or Envoy could not hold: the name rule of
`model.names` on every resource name (and on the names inside the ARN an
operation acts on), limits stated only in a member's documentation (the
36-character `clientToken`), and the width of botocore's `integer` (32 bit)
and `long` (64 bit) where the model gives no range.

Each class is written inside a factory and built on first access (`base.lazy_module`):
creating all 228 pydantic classes took 60 to 150 ms of every Lambda cold start,
while an invocation uses a few of them (ListMeshes: 3) to the 141 of the seven
resource kinds.
"""

from __future__ import annotations

import keyword
import re
import sys
from pathlib import Path
from typing import Any

import botocore.loaders

OUTPUT = Path(__file__).with_name("shapes.py")
RESERVED = {"json", "schema", "copy", "dict", "validate", "construct", "fields"}
# Resource names (virtual service names are names too): `model.names` holds the rule.
NAME_SHAPES = frozenset({"ResourceName", "ServiceName"})
# What botocore's `integer` and `long` hold when the model states no range (32 and 64 bit signed).
WIDTHS = {"integer": ("-(2**31)", "2**31 - 1"), "long": ("-(2**63)", "2**63 - 1")}
# Limits the model states only in a member's documentation: (sentence, the Field arguments it means).
DOCUMENTED = (
    (
        re.compile(r"Up to (\d+) letters, numbers, hyphens, and underscores are allowed"),
        lambda found: f"max_length={found[1]}, pattern='^[A-Za-z0-9_-]*$'",
    ),
)


def load_service_model() -> dict[str, Any]:
    return botocore.loaders.Loader().load_service_model("appmesh", "service-2")


def snake(name: str) -> str:
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    out = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", out).lower()
    if keyword.iskeyword(out) or out in RESERVED:
        out += "_"
    return out


def _doc(shape: dict[str, Any]) -> str:
    text = re.sub(r"<[^>]+>", "", shape.get("documentation", "")).strip()
    text = re.sub(r"\s+", " ", text).replace('"""', "'''").replace("\\", "\\\\")
    first = text.split(". ")[0].rstrip(".")
    return first[:200] + ("." if first else "")


class Generator:
    def __init__(self, model: dict[str, Any]) -> None:
        self.shapes: dict[str, dict[str, Any]] = model["shapes"]
        self.inputs = frozenset(op["input"]["shape"] for op in model["operations"].values() if "input" in op)
        self.emitted: set[str] = set()
        self.lines: list[str] = []

    def type_of(self, shape_name: str) -> str:
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            return shape_name
        if kind == "list":
            inner = self.type_of(shape["member"]["shape"])
            bounds = self._bounds(shape, "min_length", "max_length")
            return f"Annotated[list[{inner}], Field({bounds})]" if bounds else f"list[{inner}]"
        if kind == "string":
            if "enum" in shape:
                return "Literal[" + ", ".join(repr(v) for v in shape["enum"]) + "]"
            bounds = self._bounds(shape, "min_length", "max_length")
            if "pattern" in shape:
                bounds = ", ".join(filter(None, [bounds, f"pattern={shape['pattern']!r}"]))
            checks = [f"Field({bounds})"] if bounds else []
            if shape_name in NAME_SHAPES:
                checks.append("AppMeshName")
            return f"Annotated[str, {', '.join(checks)}]" if checks else "str"
        if kind in ("integer", "long"):
            low, high = WIDTHS[kind]
            return f"Annotated[int, Field(ge={shape.get('min', low)}, le={shape.get('max', high)})]"
        if kind == "boolean":
            return "bool"
        if kind == "timestamp":
            return "datetime"
        raise ValueError(f"unsupported shape type {kind} for {shape_name}")

    @staticmethod
    def _bounds(shape: dict[str, Any], lo: str, hi: str) -> str:
        parts = []
        if "min" in shape:
            parts.append(f"{lo}={shape['min']}")
        if "max" in shape:
            parts.append(f"{hi}={shape['max']}")
        return ", ".join(parts)

    def member_type(self, structure: str, member: dict[str, Any]) -> str:
        """`type_of` the member's shape, plus what the member alone adds: documented limits, the ARN acted on."""
        shape = self.shapes[member["shape"]]
        if shape["type"] != "string" or "enum" in shape or "max" in shape:
            return self.type_of(member["shape"])
        for sentence, field in DOCUMENTED:
            found = sentence.search(member.get("documentation", ""))
            if found:
                return f"Annotated[str, Field({field(found)})]"
        if member["shape"] == "Arn" and structure in self.inputs:
            return "Annotated[str, AppMeshResourceArn]"
        return self.type_of(member["shape"])

    def structure_deps(self, shape_name: str) -> list[str]:
        deps: list[str] = []

        def walk(name: str) -> None:
            shape = self.shapes[name]
            if shape["type"] == "structure":
                deps.append(name)
            elif shape["type"] == "list":
                walk(shape["member"]["shape"])

        for member in self.shapes[shape_name]["members"].values():
            walk(member["shape"])
        return deps

    def emit(self, name: str) -> None:
        if name in self.emitted:
            return
        self.emitted.add(name)
        for dep in self.structure_deps(name):
            self.emit(dep)
        shape = self.shapes[name]
        base = "AppMeshError" if shape.get("exception") else "AppMeshModel"
        if shape.get("union"):
            base = "AppMeshUnion"
        deps = ", ".join(repr(d) for d in dict.fromkeys(self.structure_deps(name)))
        self.lines += [
            "",
            "",
            f"@_shape({deps})",
            f"def _{name}() -> type[{base}]:",
            f"    class {name}({base}):",
            f'        """{_doc(shape) or name + "."}"""',
        ]
        if shape.get("exception"):
            status = shape.get("error", {}).get("httpStatusCode", 400)
            self.lines.append(f"        http_status: ClassVar[int] = {status}")
        required = set(shape.get("required", []))
        members = shape["members"]
        if not members:
            self.lines.append("        pass")
        for member_name, member in members.items():
            attr = snake(member_name)
            annotation = self.member_type(name, member)
            extras = []
            if attr != member_name:
                extras.append(f"alias={member_name!r}")
            if member_name in required and not shape.get("union"):
                field = f" = Field({', '.join(extras)})" if extras else ""
                self.lines.append(f"        {attr}: {annotation}{field}")
            else:
                args = ", ".join(["default=None", *extras])
                self.lines.append(f"        {attr}: {annotation} | None = Field({args})")
        self.lines += ["", f"    return {name}"]

    def render(self) -> str:
        for name, shape in self.shapes.items():
            if shape["type"] == "structure":
                self.emit(name)
        header = [
            '"""App Mesh 2019-01-25 shapes as pydantic v2 models.',
            "",
            "GENERATED by `python -m meshplane.model.codegen` from the botocore service",
            'model. Do not edit: change the generator instead."""',
            "",
            "from __future__ import annotations",
            "",
            "from datetime import datetime",
            "from typing import Annotated, ClassVar, Literal",
            "",
            "from pydantic import Field",
            "",
            "from meshplane.model.base import AppMeshError, AppMeshModel, AppMeshUnion, lazy_module",
            "from meshplane.model.names import AppMeshName, AppMeshResourceArn",
            "",
            "# Each class is built the first time it is looked up, after the classes its fields name.",
            "_shape, __getattr__, __dir__ = lazy_module(__name__)",
        ]
        return "\n".join(header + self.lines) + "\n"


def main() -> int:
    OUTPUT.write_text(Generator(load_service_model()).render())
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
