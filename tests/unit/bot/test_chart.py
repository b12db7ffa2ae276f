"""The usage chart: a PNG of the right size, a bar per period, the tier limits drawn."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from matplotlib.container import BarContainer
from PIL import Image

from billing_core.conversations.actions import chart_payload
from billing_core.conversations.model import ChartSpec
from bot.chart import HEIGHT, WIDTH, BadChart, chart_figure, render_chart


def spec(periods: int = 12, limits: tuple[str, ...] = ("240", "400")) -> ChartSpec:
    starts = [date(2025, 11, 10) + timedelta(days=30 * n) for n in range(periods)]
    return ChartSpec(
        tuple((s, s + timedelta(days=30)) for s in starts),
        tuple(Decimal(150 + 25 * n) for n in range(periods)),
        tuple(Decimal(limit) for limit in limits),
    )


def payload(chart: ChartSpec) -> dict[str, object]:
    return chart_payload(chart, language="zh-CN", title="户号1000000001近12期用电")


def test_the_png_decodes_at_its_size() -> None:
    png = render_chart(payload(spec()))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)


def test_a_bar_per_period_and_a_line_at_each_tier_limit() -> None:
    figure = chart_figure(payload(spec()))
    [axes] = figure.axes
    [bars] = [c for c in axes.containers if isinstance(c, BarContainer)]
    assert [round(bar.get_height()) for bar in bars] == [150 + 25 * n for n in range(12)]
    horizontal = sorted(
        line.get_ydata()[0] for line in axes.get_lines() if len(set(line.get_ydata())) == 1
    )
    assert horizontal == [240.0, 400.0]
    assert axes.get_ylim()[1] > 400  # the highest limit is on the chart


def test_no_limits_no_lines() -> None:
    [axes] = chart_figure(payload(spec(limits=()))).axes
    assert axes.get_lines() == []


def test_a_payload_survives_json() -> None:
    import json

    again = json.loads(json.dumps({"chart": payload(spec(periods=3))}))["chart"]
    assert Image.open(BytesIO(render_chart(again))).size == (WIDTH, HEIGHT)


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"periods": [], "kwh": []},
        {"periods": [["2026-01-01", "2026-02-01"]], "kwh": []},
        {"periods": [["2026-01-01", "x"]], "kwh": ["1"]},
        {"periods": [["2026-01-01", "2026-02-01"]], "kwh": ["-5"]},
        {"periods": [["2026-01-01", "2026-02-01"]], "kwh": ["NaN"]},
        {"periods": [["2026-01-01", "2026-02-01"]], "kwh": ["1"], "limits": ["x"]},
    ],
)
def test_what_is_no_chart_is_refused(broken: dict[str, object]) -> None:
    with pytest.raises(BadChart):
        render_chart(broken)
