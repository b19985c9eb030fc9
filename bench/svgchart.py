"""A small SVG writer for one kind of chart: numbers over several runs against their targets.

Each row is one number: every run as a ring, their range as a bar, the median as a
diamond (green when it meets the row's target, red when it misses, black when the
row has none) and the target as a dashed mark.  Rows sharing a unit form a panel
with one logarithmic axis, so a 2 ms and a 200 ms figure both stay readable.  The
output is plain text and deterministic: the same data gives the same bytes, so
committed plots can be checked against the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDTH = 860
CHAR_W = 7.0  # average advance of the 12 px sans-serif font, for sizing the label column
ROW_H = 22
VALUE_W = 92
PAD = 16
MET, MISSED, PLAIN, TARGET = "#1a7f37", "#cf222e", "#24292f", "#9a6700"
RANGE, GRID, MUTED = "#8c959f", "#eaeef2", "#57606a"


@dataclass(frozen=True)
class ChartRow:
    """One number over the runs, with its target when it has one."""

    label: str
    values: Sequence[float]
    median: float
    value_text: str
    target: float | None = None
    met: bool | None = None


@dataclass(frozen=True)
class Panel:
    """Rows that share a unit and an axis."""

    title: str
    rows: Sequence[ChartRow]


def _ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks from the largest one below `low` to the smallest one above `high` (with a margin)."""
    if low <= 0:
        raise ValueError(f"a logarithmic axis needs positive values, got {low}")
    series = [m * 10.0**k for k in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 2)
              for m in (1, 2, 5)]
    start = max(t for t in series if t <= low / 1.15)
    end = min(t for t in series if t >= high * 1.15)
    return [t for t in series if start <= t <= end]


def _tick_text(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


class _Canvas:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(self, x: float, y: float, content: str, *, anchor: str = "start", fill: str = PLAIN,
             weight: str = "normal", size: int = 12) -> None:
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="{size}" '
                 f'font-weight="{weight}">{escape(content)}</text>')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1, dash: str = "") -> None:
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
                 f'stroke-width="{width}"{dashed}/>')


def _ring(cx: float, cy: float) -> str:
    return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="#ffffff" stroke="{MUTED}"/>'


def _legend(canvas: _Canvas, y: float) -> None:
    x, mid = float(PAD), y - 4
    for text in ("one run", "range", "median, target met", "median, target missed", "target"):
        if text == "one run":
            canvas.add(_ring(x + 4, mid))
        elif text == "range":
            canvas.line(x - 4, mid, x + 12, mid, RANGE, 3)
        elif text == "target":
            canvas.line(x + 4, mid - 7, x + 4, mid + 7, TARGET, 2, "3,2")
        else:
            canvas.add(_diamond(x + 4, mid, MET if text.endswith("met") else MISSED))
        canvas.text(x + 16, y, text, fill=MUTED)
        x += 36 + len(text) * CHAR_W


def _diamond(cx: float, cy: float, fill: str, title: str = "") -> str:
    points = f"{cx:.1f},{cy - 5.5:.1f} {cx + 5.5:.1f},{cy:.1f} {cx:.1f},{cy + 5.5:.1f} {cx - 5.5:.1f},{cy:.1f}"
    inner = f"<title>{escape(title)}</title>" if title else ""
    return f'<polygon points="{points}" fill="{fill}">{inner}</polygon>'


def _panel(canvas: _Canvas, panel: Panel, top: float, left: float, right: float) -> float:
    """Draw one panel from `top`; returns the y below it."""
    canvas.text(PAD, top + 14, panel.title, weight="bold")
    numbers = [v for row in panel.rows for v in (*row.values, *([row.target] if row.target else []))]
    ticks = _ticks(min(numbers), max(numbers))
    lo, hi = math.log10(ticks[0]), math.log10(ticks[-1])

    def x(value: float) -> float:
        return left + (math.log10(value) - lo) / (hi - lo) * (right - left)

    first = top + 24
    bottom = first + ROW_H * len(panel.rows)
    for tick in ticks:
        canvas.line(x(tick), first, x(tick), bottom, GRID)
        canvas.text(x(tick), bottom + 14, _tick_text(tick), anchor="middle", fill=MUTED, size=11)
    for i, row in enumerate(panel.rows):
        y = first + ROW_H * i + ROW_H / 2
        canvas.text(left - 10, y + 4, row.label, anchor="end")
        canvas.line(x(min(row.values)), y, x(max(row.values)), y, RANGE, 3)
        for value in row.values:
            canvas.add(_ring(x(value), y))
        if row.target is not None:
            canvas.line(x(row.target), y - 9, x(row.target), y + 9, TARGET, 2, "3,2")
        colour = PLAIN if row.met is None else MET if row.met else MISSED
        title = f"{row.label}: median {row.value_text} over {len(row.values)} runs"
        canvas.add(_diamond(x(row.median), y, colour, title))
        canvas.text(right + 12, y + 4, row.value_text, fill=colour)
    return bottom + 24


def render(title: str, subtitle: str, panels: Sequence[Panel]) -> str:
    """The chart as an SVG document."""
    longest = max(len(row.label) for panel in panels for row in panel.rows)
    left = PAD + min(longest * CHAR_W + 12, WIDTH * 0.55)
    right = WIDTH - VALUE_W
    canvas = _Canvas()
    canvas.text(PAD, 24, title, weight="bold", size=15)
    canvas.text(PAD, 44, subtitle, fill=MUTED)
    _legend(canvas, 66)
    y = 80.0
    for panel in panels:
        y = _panel(canvas, panel, y, left, right)
    height = round(y + 4)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" role="img">')
    body = [head, f"<title>{escape(title)}</title>", f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
            *canvas.parts, "</svg>", ""]
    return "\n".join(body)
