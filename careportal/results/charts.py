"""A test's values over time as a server-rendered SVG chart: no JavaScript, readable at 320 px.

`trend_chart` is a pure function of the points and the reference range. The SVG scales with its container (a
viewBox and width 100%), uses presentation attributes only (no inline styles, which the page's CSP forbids), and is
one image to assistive technology (role="img", named by its <title> and described by a text summary in <desc>).
Points outside the range have a different shape (a triangle pointing up or down, or a diamond), not just a
different colour, and each point carries its own <title> with the date, value and position in words. The page
shows the same values as a table beside it.
"""

import datetime
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

from careportal.core.formatting import format_date

WIDTH, HEIGHT = 400, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 24, 40
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

INK, GRID, BAND, IN_RANGE, OUT_OF_RANGE = "#212b32", "#d8dde0", "#e3f2ea", "#005eb8", "#d5281b"


@dataclass(frozen=True)
class ChartPoint:
    day: datetime.date
    value: Decimal
    label: str  # "3 November 2026: 135 g/L, within range": the point's own <title>
    out_of_range: bool = False
    direction: str = ""  # "low", "high", or "" (out of range in no stated direction, or within it)


@dataclass(frozen=True)
class TrendChart:
    svg: Markup
    summary: str


def _nice_step(span: float, intervals: int = 4) -> float:
    raw = span / intervals
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * magnitude:
            return multiple * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _y_domain(values: Sequence[float]) -> tuple[float, float, float]:
    """The lowest and highest tick and the step between ticks, covering every value with some room."""
    low, high = min(values), max(values)
    if low == high:
        # One value, or all equal: centre it with room either side rather than divide by a zero span.
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = _nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _tick_text(value: float, step: float) -> str:
    # As many decimals as the step needs: steps of 2.5 give "2.5", "5.0"; steps of 20 give "20", "40".
    exponent = Decimal(str(round(step, 10))).normalize().as_tuple().exponent
    decimals = max(0, -int(exponent))
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _number(value: Decimal | float) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def _marker(x: float, y: float, point: ChartPoint) -> str:
    title = f"<title>{escape(point.label)}</title>"
    if not point.out_of_range:
        return (
            f'<circle class="careportal-chart__point careportal-chart__point--within" cx="{x:.1f}" cy="{y:.1f}" '
            f'r="5" fill="{IN_RANGE}" stroke="#ffffff" stroke-width="1.5">{title}</circle>'
        )
    if point.direction == "high":
        shape = f"{x:.1f},{y - 7:.1f} {x + 7:.1f},{y + 5:.1f} {x - 7:.1f},{y + 5:.1f}"
    elif point.direction == "low":
        shape = f"{x:.1f},{y + 7:.1f} {x + 7:.1f},{y - 5:.1f} {x - 7:.1f},{y - 5:.1f}"
    else:
        shape = f"{x:.1f},{y - 7:.1f} {x + 7:.1f},{y:.1f} {x:.1f},{y + 7:.1f} {x - 7:.1f},{y:.1f}"
    kind = point.direction or "outside"
    return (
        f'<polygon class="careportal-chart__point careportal-chart__point--{kind}" points="{shape}" '
        f'fill="{OUT_OF_RANGE}" stroke="#ffffff" stroke-width="1.5">{title}</polygon>'
    )


def _summary(points: Sequence[ChartPoint], *, low: Decimal | None, high: Decimal | None, unit: str) -> str:
    unit_text = f" {unit}" if unit else ""
    latest = points[-1]
    if len(points) == 1:
        text = f"1 value. {latest.label}."
    else:
        values = [p.value for p in points]
        text = (
            f"{len(points)} values from {format_date(points[0].day)} to {format_date(latest.day)}. "
            f"Lowest {_number(min(values))}{unit_text}, highest {_number(max(values))}{unit_text}. "
            f"Most recent: {latest.label}."
        )
        outside = sum(1 for p in points if p.out_of_range)
        text += f" {outside} of {len(points)} values {'is' if outside == 1 else 'are'} outside the range."
    if low is not None and high is not None:
        text += f" The range is {_number(low)} to {_number(high)}{unit_text}."
    elif low is not None:
        text += f" The range is {_number(low)}{unit_text} or more."
    elif high is not None:
        text += f" The range is up to {_number(high)}{unit_text}."
    else:
        text += " The lab gave no range for this test."
    return text


def trend_chart(
    *,
    points: Sequence[ChartPoint],
    low: Decimal | None,
    high: Decimal | None,
    unit: str,
    title: str,
    chart_id: str,
) -> TrendChart:
    """The SVG for `points` (at least one, in date order) with the reference band from `low` to `high` (either
    may be missing: the band then runs to the edge of the chart; both missing: no band)."""
    if not points:
        raise ValueError("a chart needs at least one point")
    chart_id = re.sub(r"[^a-z0-9-]", "-", chart_id.lower()) or "chart"
    values = [float(p.value) for p in points] + [float(v) for v in (low, high) if v is not None]
    y_min, y_max, step = _y_domain(values)

    def y_of(value: float) -> float:
        return TOP + PLOT_H - (value - y_min) / (y_max - y_min) * PLOT_H

    first_day, last_day = points[0].day, points[-1].day
    span_days = (last_day - first_day).days

    def x_of(day: datetime.date) -> float:
        if span_days == 0:
            return LEFT + PLOT_W / 2
        return LEFT + (day - first_day).days / span_days * PLOT_W

    summary = _summary(points, low=low, high=high, unit=unit)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="careportal-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" focusable="false" '
        f'font-size="14" fill="{INK}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(summary)}</desc>',
    ]
    if low is not None or high is not None:
        band_top = y_of(float(high)) if high is not None else TOP
        band_bottom = y_of(float(low)) if low is not None else TOP + PLOT_H
        parts.append(
            f'<rect class="careportal-chart__band" x="{LEFT}" y="{band_top:.1f}" width="{PLOT_W}" '
            f'height="{max(band_bottom - band_top, 0):.1f}" fill="{BAND}" stroke="#007f3b" stroke-dasharray="4 3"/>'
        )
    ticks = round((y_max - y_min) / step)
    for i in range(ticks + 1):
        value = y_min + i * step
        y = y_of(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT_W}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_tick_text(value, step))}</text>'
        )
    parts.append(
        f'<line class="careportal-chart__axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}" '
        f'stroke="{INK}" stroke-width="1.5"/>'
        f'<line class="careportal-chart__axis" x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{LEFT + PLOT_W}" '
        f'y2="{TOP + PLOT_H}" stroke="{INK}" stroke-width="1.5"/>'
    )
    if unit:
        parts.append(f'<text x="{LEFT - 6}" y="{TOP - 10}" text-anchor="end">{escape(unit)}</text>')
    # Dates under the axis: the first and the last (one label when they are the same day), so that labels never
    # overlap however many points there are; the table has every date.
    if span_days == 0:
        parts.append(
            f'<text x="{x_of(first_day):.1f}" y="{HEIGHT - 14}" text-anchor="middle">'
            f"{escape(format_date(first_day))}</text>"
        )
    else:
        parts.append(
            f'<text x="{LEFT}" y="{HEIGHT - 14}" text-anchor="start">{escape(format_date(first_day))}</text>'
            f'<text x="{LEFT + PLOT_W}" y="{HEIGHT - 14}" text-anchor="end">{escape(format_date(last_day))}</text>'
        )
    coordinates = [(x_of(p.day), y_of(float(p.value))) for p in points]
    if len(coordinates) > 1:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
        parts.append(f'<polyline points="{line}" fill="none" stroke="#4c6272" stroke-width="2"/>')
    parts.extend(_marker(x, y, point) for (x, y), point in zip(coordinates, points, strict=True))
    parts.append("</svg>")
    return TrendChart(svg=Markup("".join(parts)), summary=summary)  # noqa: S704 - every text above is escaped  # nosec B704
