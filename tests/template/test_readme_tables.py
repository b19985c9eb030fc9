"""README.md's parameter and output tables list exactly what template.yaml declares, with its defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parents[2]
CELL_NAME = re.compile(r"^`([A-Za-z0-9]+)`$")


def template() -> dict[str, Any]:
    return yaml_parse((REPO / "template.yaml").read_text())


def table(header: str) -> list[list[str]]:
    """The rows (cells stripped) of the README table whose header row starts with `header`."""
    lines = (REPO / "README.md").read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"| {header} |")]
    assert len(starts) == 1, f"README.md needs exactly one table headed '{header}'"
    rows = []
    for line in lines[starts[0] + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def names(rows: list[list[str]]) -> list[str]:
    found = []
    for row in rows:
        match = CELL_NAME.match(row[0])
        assert match, f"first cell must be one `Name`: {row[0]!r}"
        found.append(match[1])
    return found


def test_the_parameter_table_lists_every_template_parameter_once() -> None:
    listed = names(table("parameter"))
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(template()["Parameters"])


def test_the_output_table_lists_every_template_output_once() -> None:
    listed = names(table("output"))
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(template()["Outputs"])


def test_the_parameter_table_shows_each_default() -> None:
    """An empty default reads `empty...`; any other is the first `code` span of the default cell."""
    parameters = template()["Parameters"]
    for row in table("parameter"):
        name, default = CELL_NAME.match(row[0])[1], row[1]  # type: ignore[index]
        expected = str(parameters[name]["Default"])
        if expected == "":
            assert default.startswith("empty"), (name, default)
        else:
            shown = re.match(r"`([^`]*)`", default)
            assert shown and shown[1] == expected, (name, default, expected)
