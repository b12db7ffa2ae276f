"""The usage chart: a PNG of the last months' kWh, a bar per billing period, with the tariff's
tier limits drawn as horizontal lines. The Telegram transport calls `render_chart` on an
outbox row's payload["chart"], which the conversation layer writes
(`conversations.actions.chart_payload`):

    {"title": str, "language": "zh-CN" | "en",
     "periods": [["2025-12-10", "2026-01-10"], ...],   # oldest first, ISO dates
     "kwh": ["186.0", ...],                              # one per period, decimal strings
     "limits": ["240", "400"]}                           # kWh a month; may be empty

The picture has no words but numbers, dates and "kWh" (the photo's caption carries the
customer's language, and a server need not have a CJK font). matplotlib's object API with the
Agg canvas: no pyplot, so no global figure state shared between threads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from io import BytesIO
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WIDTH, HEIGHT, DPI = 960, 540, 100  # pixels: a photo Telegram shows without scaling down
MAX_PERIODS = 24
BAR_COLOUR = "#2f6fb0"
LIMIT_COLOURS = ("#e0a100", "#d04a02", "#a00000")


class BadChart(ValueError):
    """A payload that is not a chart this module draws."""


def render_chart(chart: Mapping[str, Any]) -> bytes:
    """The chart as PNG bytes (WIDTH x HEIGHT pixels)."""
    figure = chart_figure(chart)
    buffer = BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def chart_figure(chart: Mapping[str, Any]) -> Figure:
    """The figure `render_chart` draws: one axes, its bars the periods' kWh, a horizontal
    line (Line2D) at each tier limit."""
    periods, used, limits = _read(chart)
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    labels = [end.strftime("%Y-%m") for _, end in periods]
    bars = axes.bar(range(len(used)), used, color=BAR_COLOUR, width=0.7)
    axes.bar_label(bars, labels=[f"{value:g}" for value in used], padding=2, fontsize=8)
    axes.set_xticks(range(len(used)), labels, rotation=45 if len(used) > 8 else 0, fontsize=9)
    axes.set_ylabel("kWh")
    for index, limit in enumerate(limits):
        colour = LIMIT_COLOURS[min(index, len(LIMIT_COLOURS) - 1)]
        axes.axhline(limit, color=colour, linestyle="--", linewidth=1.5)
        axes.annotate(f"{limit:g} kWh", xy=(1, limit), xycoords=("axes fraction", "data"),
                      xytext=(-4, 3), textcoords="offset points", ha="right", fontsize=8,
                      color=colour)  # fmt: skip
    top = max([*used, *limits, 1.0])
    axes.set_ylim(0, top * 1.15)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def _read(chart: Mapping[str, Any]) -> tuple[list[tuple[date, date]], list[float], list[float]]:
    try:
        periods = [(date.fromisoformat(s), date.fromisoformat(e)) for s, e in chart["periods"]]
        used = [_number(value) for value in chart["kwh"]]
        limits = sorted(_number(value) for value in chart.get("limits") or ())
    except (KeyError, TypeError, ValueError) as exc:
        raise BadChart(f"not a usage chart: {exc}") from exc
    if not periods or len(periods) != len(used) or len(periods) > MAX_PERIODS:
        raise BadChart(f"{len(periods)} periods and {len(used)} values")
    return periods, used, [limit for limit in limits if limit > 0]


def _number(value: str | float | int | Decimal | Sequence[Any]) -> float:
    try:
        number = float(Decimal(str(value)))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number") from exc
    if number != number or number < 0 or number == float("inf"):
        raise ValueError(f"{value!r} is not a quantity")
    return number
