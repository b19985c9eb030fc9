"""Production functions stay short enough to read in one screen: none runs past 60 lines.

A function's length counts from its `def` line to the last line of its body, nested
functions included.  The generated shapes (a module or a package) are exempt: the
generator writes them and their own drift test checks them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = (ROOT / "layers" / "meshplane", ROOT / "functions")
GENERATED = (ROOT / "layers" / "meshplane" / "model" / "shapes.py", ROOT / "layers" / "meshplane" / "model" / "shapes")
MAX_LINES = 60

# "<path relative to the repository>::<qualified name>" -> why it may still be longer.
# Each entry is a file another change is reworking right now; the entry goes when that lands.
ALLOWED: dict[str, str] = {}


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method of `tree`, with its dotted name (Class.method, outer.inner)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def long_functions(roots: tuple[Path, ...], limit: int, base: Path = ROOT) -> dict[str, int]:
    """`path::name` (path relative to `base`) -> line count of every function under `roots` over `limit` lines."""
    found: dict[str, int] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if any(path == generated or generated in path.parents for generated in GENERATED):
                continue
            for name, node in _functions(ast.parse(path.read_text(), str(path))):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    found[f"{path.relative_to(base).as_posix()}::{name}"] = length
    return found


def test_no_production_function_is_longer_than_60_lines() -> None:
    offenders = {key: length for key, length in long_functions(PRODUCTION, MAX_LINES).items() if key not in ALLOWED}
    listing = "\n".join(f"  {key}: {length} lines" for key, length in sorted(offenders.items()))
    assert not offenders, f"functions longer than {MAX_LINES} lines (split them into named helpers):\n{listing}"


def test_every_allowed_long_function_is_still_long() -> None:
    """An entry whose function was split (or renamed) is removed, so the list only shrinks."""
    stale = set(ALLOWED) - set(long_functions(PRODUCTION, MAX_LINES))
    assert not stale, f"remove from ALLOWED, these are no longer over {MAX_LINES} lines: {sorted(stale)}"


def test_the_walk_measures_from_def_to_the_end_of_the_body(tmp_path: Path) -> None:
    source = "class C:\n    def method(self):\n" + "        x = 1\n" * 60 + "\n\ndef short():\n    return 1\n"
    (tmp_path / "m.py").write_text(source)
    assert long_functions((tmp_path,), MAX_LINES, base=tmp_path) == {"m.py::C.method": 61}
