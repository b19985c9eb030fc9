"""The layer carries our modules without docstrings and comments, and otherwise exactly as written."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "meshplane"


def _code(source: str) -> str:
    """The module's AST with every docstring emptied: what must not change."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                first.value.value, str
            ):
                first.value.value = ""
    return ast.dump(tree)


def test_every_module_keeps_its_code_and_its_line_numbers(prune_layer: ModuleType) -> None:
    stripped = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        out = prune_layer.without_documentation(source)
        assert out.count("\n") == source.count("\n"), path
        assert _code(out) == _code(source), path
        stripped += len(source) - len(out)
    assert stripped > 0


def test_docstrings_and_comments_are_gone_and_code_lines_stay_in_place(prune_layer: ModuleType) -> None:
    source = '''"""Module → doc."""
import os  # why os


def f() -> str:
    """Several
    lines."""
    # a whole-line comment
    return "# not a comment" + os.sep


class P:
    def g(self) -> None:
        """Only a docstring."""
'''
    out = prune_layer.without_documentation(source)
    assert out.splitlines() == [
        '""', "import os", "", "", "def f() -> str:", '    ""', "", "", '    return "# not a comment" + os.sep',
        "", "", "class P:", "    def g(self) -> None:", '        ""',
    ]
    namespace: dict[str, object] = {}
    exec(compile(out, "stripped", "exec"), namespace)
