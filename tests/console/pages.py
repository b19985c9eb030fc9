"""What the browser tests read from and do in the console page (Playwright's sync API).

The page's Content-Security-Policy refuses `eval`, so the waits are selectors, never
`wait_for_function`; `window.meshplaneConsole` gives read access to the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.harness import RunningConsole

LOAD_TIMEOUT_MS = 90_000


@dataclass
class Problems:
    """Script errors and CSP violations the page met: none is expected."""

    seen: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.seen.append(f"pageerror: {error}"))
        page.on("console", lambda message: self.seen.append(f"console: {message.text}")
                if "Content Security Policy" in message.text else None)  # fmt: skip


def open_mesh(page: Any, console: RunningConsole, mesh: str) -> Problems:
    """The console opened on `mesh`, once it has drawn it."""
    problems = Problems()
    problems.watch(page)
    page.goto(console.url.replace("#", f"#mesh={mesh}&"))
    wait_loaded(page, 1)
    return problems


def wait_loaded(page: Any, loads: int) -> None:
    """Until the page has finished its `loads`-th load of the mesh."""
    page.wait_for_selector(f'body[data-loads="{loads}"][data-state="ready"]', state="attached",
                           timeout=LOAD_TIMEOUT_MS)  # fmt: skip


def weight_edges(page: Any) -> dict[tuple[str, str], tuple[int, str]]:
    """(route, virtual node) -> (weight, edge label) of every weighted edge in the graph."""
    found = page.evaluate("""() => window.meshplaneConsole.cy.edges('[kind = "weight"]').map(e =>
        [e.source().data('name'), e.target().data('name'), e.data('weight'), e.data('label')])""")
    return {(route, node): (weight, label) for route, node, weight, label in found}


def graph_nodes(page: Any) -> dict[str, str]:
    """Graph node id -> kind."""
    found = page.evaluate("() => window.meshplaneConsole.cy.nodes().map(n => [n.id(), n.data('kind')])")
    return dict(found)


def shot(page: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path
