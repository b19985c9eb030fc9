"""How the demo talks to a person: a live `rich` view, or plain lines for logs and tests."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

Advance = Callable[[int, str], None]  # (completed so far, status text)


class View(Protocol):
    def title(self, text: str) -> None: ...

    def step(self, text: str) -> contextlib.AbstractContextManager[None]: ...

    def progress(self, text: str, total: int) -> contextlib.AbstractContextManager[Advance]: ...

    def info(self, text: str) -> None: ...

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None: ...


class PlainView:
    """One line per event, flushed, nothing to redraw."""

    def title(self, text: str) -> None:
        print(f"== {text}", flush=True)

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        print(f"-> {text} ...", flush=True)
        yield
        print(f"   done: {text}", flush=True)

    @contextlib.contextmanager
    def progress(self, text: str, total: int) -> Iterator[Advance]:
        with self.step(text):
            yield lambda completed, status: None

    def info(self, text: str) -> None:
        print(f"   {text}", flush=True)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        print(f"   [{title}]", flush=True)
        widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
        for line in (columns, *rows):
            cells = (str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
            print("   " + "  ".join(cells), flush=True)


class RichView:
    """Spinners while a step runs, coloured tables for the measured numbers."""

    def __init__(self) -> None:
        from rich.console import Console

        self._console = Console()

    def title(self, text: str) -> None:
        self._console.rule(f"[bold cyan]{text}")

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        with self._console.status(f"[bold]{text}[/] ...", spinner="dots"):
            yield
        self._console.print(f"[green]✔[/] {text}")

    @contextlib.contextmanager
    def progress(self, text: str, total: int) -> Iterator[Advance]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

        columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}"))  # fmt: skip
        with Progress(*columns, console=self._console, transient=True) as bar:
            task = bar.add_task(text, total=total, status="")
            yield lambda completed, status: bar.update(task, completed=completed, status=status)
        self._console.print(f"[green]✔[/] {text}")

    def info(self, text: str) -> None:
        self._console.print(f"  {text}", highlight=False)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left", header_style="bold magenta")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(cell) for cell in row))
        self._console.print(table)
