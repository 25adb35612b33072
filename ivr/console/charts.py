"""Charts as inline SVG, drawn on the server: no script, nothing fetched, allowed by the CSP.

Two shapes cover the dashboard: columns over an ordered axis (days, hours) and horizontal bars
for named things (funnel steps, intents). Each chart is an ``img`` with its title as accessible
name, a ``<title>`` per bar saying its value, and axis labels; the page shows the same numbers
in a table next to it. Colours come from classes in ``console.css`` (a CSP without
``'unsafe-inline'`` ignores style attributes).
"""

from __future__ import annotations

from collections.abc import Sequence

from ivr.console.html import Markup, element, join

WIDTH = 720
HEIGHT = 260
LEFT = 56
"""Room for the value axis's numbers and label."""
BOTTOM = 44
TOP = 12
MAX_AXIS_LABELS = 16
"""Column labels shown at most; with more columns every n-th is labelled."""
BAR_HEIGHT = 22
LABEL_WIDTH = 220
"""Room for the names left of horizontal bars."""


def columns(title: str, points: Sequence[tuple[str, float]], x_label: str, y_label: str) -> Markup:
    """Vertical columns, one per point, left to right in the given order."""
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    top = _axis_top(max((value for _, value in points), default=0))
    step = plot_w / max(1, len(points))
    every = max(1, -(-len(points) // MAX_AXIS_LABELS))
    parts = [*_value_ticks(top, plot_h, plot_w), _axis_titles(x_label, y_label, plot_h)]
    for index, (label, value) in enumerate(points):
        height = plot_h * value / top
        x = LEFT + index * step
        parts.append(
            _bar(x + step * 0.1, TOP + plot_h - height, step * 0.8, height, f"{label}: {value:g}")
        )
        if index % every == 0:
            parts.append(
                _text(x + step / 2, TOP + plot_h + 14, label, "middle", class_="axis-label")
            )
    return _svg(title, WIDTH, HEIGHT, parts)


def bars(title: str, items: Sequence[tuple[str, float]], value_label: str) -> Markup:
    """Horizontal bars, one per named item, top to bottom; the value written at each end."""
    plot_w = WIDTH - LABEL_WIDTH - 70
    top = _axis_top(max((value for _, value in items), default=0))
    height = TOP + len(items) * BAR_HEIGHT + 24
    parts = [
        _text(LABEL_WIDTH + plot_w / 2, height - 4, value_label, "middle", class_="axis-title")
    ]
    for index, (label, value) in enumerate(items):
        y = TOP + index * BAR_HEIGHT
        width = plot_w * value / top
        parts += [
            _text(LABEL_WIDTH - 6, y + BAR_HEIGHT * 0.65, label, "end", class_="axis-label"),
            _bar(LABEL_WIDTH, y + 3, width, BAR_HEIGHT - 6, f"{label}: {value:g}"),
            _text(LABEL_WIDTH + width + 4, y + BAR_HEIGHT * 0.65, f"{value:g}", "start"),
        ]
    return _svg(title, WIDTH, height, parts)


def _svg(title: str, width: int, height: int, parts: list[Markup]) -> Markup:
    return element(
        "svg",
        join([element("title", title), *parts]),
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {width} {height}",
        role="img",
        aria_label=title,
        class_="chart",
    )


def _bar(x: float, y: float, width: float, height: float, says: str) -> Markup:
    return element(
        "rect",
        element("title", says),
        x=_n(x),
        y=_n(y),
        width=_n(max(width, 0.0)),
        height=_n(max(height, 0.0)),
        class_="bar",
    )


def _value_ticks(top: float, plot_h: float, plot_w: float) -> list[Markup]:
    """Gridlines and numbers at 0, half and the top of the value axis."""
    ticks = []
    for share in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - share)
        ticks.append(
            element("line", x1=_n(LEFT), x2=_n(LEFT + plot_w), y1=_n(y), y2=_n(y), class_="grid")
        )
        ticks.append(_text(LEFT - 6, y + 4, f"{top * share:g}", "end", class_="axis-label"))
    return ticks


def _axis_titles(x_label: str, y_label: str, plot_h: float) -> Markup:
    middle = TOP + plot_h / 2
    return join(
        [
            _text(LEFT + (WIDTH - LEFT) / 2, HEIGHT - 6, x_label, "middle", class_="axis-title"),
            _text(
                14,
                middle,
                y_label,
                "middle",
                class_="axis-title",
                transform=f"rotate(-90 14 {_n(middle)})",
            ),
        ]
    )


def _text(x: float, y: float, text: str, anchor: str, **attributes: str) -> Markup:
    return element("text", text, x=_n(x), y=_n(y), text_anchor=anchor, **attributes)


def _axis_top(largest: float) -> float:
    """A round number at or above ``largest`` (1, 2 or 5 times a power of ten)."""
    if largest <= 0:
        return 1.0
    power = 10 ** len(str(int(largest))) / 10
    return next(m * power for m in (1, 2, 5, 10) if m * power >= largest)


def _n(value: float) -> str:
    return f"{value:.1f}"
