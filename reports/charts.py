"""Charts and number formats the reports share: inline SVG drawn here (no script, no font file, no URL).

Both the ministry reports and the auditor's report draw with these, and style them with the
same classes (``templates/_charts.css``): ``ct`` a chart's title, ``gh`` a group heading,
``lb`` a bar's label, ``vl`` its value, ``lg`` a legend entry, ``axis`` the zero line, and a
sparkline's ``trend``, ``thr`` (threshold) and ``pt`` (one night's mark).

Example::

    bar_chart_svg([Bar("Province A", 0.82, "82% of 1,204")], title="Coverage", max_value=1.0)
    sparkline_svg([TrendPoint(date(2026, 3, 1), 0.0, passed=True)], title="rows quarantined")
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape
from pathlib import Path

import jinja2
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent / "templates"


def template_environment() -> jinja2.Environment:
    """The reports' Jinja2 templates (reports/templates): autoescaped, strict about undefined names."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# blue for data (the first series), red for a failure or a negative value, green for a pass
PALETTE = ("#2f6f9f", "#d0793a", "#4b9a6a", "#a4508b", "#7d7d2f", "#5b5fb3")
BLUE, RED, GREEN = PALETTE[0], "#c0392b", PALETTE[2]
# about 7 px per character of a 12 px label
CHAR_PX = 7


def format_number(value: object) -> str:
    """A count with thousands separators, any other number to four significant digits; "–" for none."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else str(value)
    if not isinstance(value, int | float | Decimal):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return "–"
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.4g}"


@dataclass(frozen=True)
class Bar:
    """One bar: ``value`` ``None`` draws nothing (hidden, or no data) and ``text`` says which.

    ``series`` picks the colour (and the legend entry); ``colour`` overrides it."""

    label: str
    value: float | None
    text: str
    group: str = ""
    series: int = 0
    colour: str = ""


def bar_chart_svg(
    bars: Sequence[Bar],
    *,
    title: str,
    legend: Sequence[str] = (),
    max_value: float | None = None,
    label_width: int | None = None,
) -> Markup:
    """A horizontal bar chart: one row per bar under its ``group`` heading, around a zero line.

    Negative values go left of the zero line (in red unless the bar has a colour) and the values then
    stand in a column on the right; otherwise each value stands after its bar. ``max_value`` fixes the
    right end (1.0 for shares). ``label_width`` fixes the label column and cuts longer labels (each
    kept whole in its tooltip); by default the column fits the longest label, so none is cut.
    Every text is escaped here.
    """
    row_h, head_h, plot_w = 18, 22, 420
    fitted = label_width is None
    label_w = (
        max(140, 16 + CHAR_PX * max((len(b.label) for b in bars), default=0))
        if label_width is None
        else label_width
    )
    label_chars = max(8, (label_w - 12) // CHAR_PX)
    value_w = max(70, 12 + CHAR_PX * max((len(b.text) for b in bars), default=0))
    values = [b.value for b in bars if b.value is not None]
    low = min([0.0, *values])
    high = max_value if max_value is not None else max([0.0, *values])
    span = (high - low) or 1.0
    width = max(label_w + plot_w + value_w, 20 + 150 * len(legend), 40 + 8 * len(title))

    def x_of(value: float) -> float:
        return label_w + (value - low) / span * plot_w

    parts: list[str] = []
    for index, name in enumerate(legend):
        x = 10 + index * 150
        parts.append(f'<rect x="{x}" y="30" width="10" height="10" fill="{PALETTE[index % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="39" class="lg">{escape(name)}</text>')
    top = y = 26 + (20 if legend else 0)
    group = None
    for bar in bars:
        if bar.group and bar.group != group:
            group = bar.group
            parts.append(f'<text x="4" y="{y + 15}" class="gh">{escape(bar.group)}</text>')
            y += head_h
        label = bar.label if fitted or len(bar.label) <= label_chars else bar.label[: label_chars - 1] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" class="lb" text-anchor="end">'
            f"<title>{escape(bar.label)}</title>{escape(label)}</text>"
        )
        if bar.value is not None:
            start, end = sorted((x_of(0.0), x_of(max(low, min(bar.value, high)))))
            colour = bar.colour or (PALETTE[bar.series % len(PALETTE)] if bar.value >= 0 else RED)
            parts.append(
                f'<rect x="{start:.1f}" y="{y + 3}" width="{max(end - start, 0.5):.1f}" '
                f'height="{row_h - 6}" fill="{colour}"/>'
            )
        if low < 0:
            parts.append(
                f'<text x="{width - 4}" y="{y + 13}" class="vl" text-anchor="end">{escape(bar.text)}</text>'
            )
        else:
            after = x_of(bar.value or 0.0) + 5
            parts.append(f'<text x="{after:.1f}" y="{y + 13}" class="vl">{escape(bar.text)}</text>')
        y += row_h
    if low < 0:
        zero = x_of(0.0)
        parts.append(f'<line x1="{zero:.1f}" y1="{top - 2}" x2="{zero:.1f}" y2="{y}" class="axis"/>')
    height = y + 8
    return Markup(
        # inline SVG in HTML needs no namespace attribute: the file holds no URL at all
        f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<text x="4" y="16" class="ct">{escape(title)}</text>{"".join(parts)}</svg>'
    )


@dataclass(frozen=True)
class TrendPoint:
    """One night of a trend: the value observed and, for a check, whether it passed (``None``: a metric)."""

    night: date
    value: float | None
    passed: bool | None = None


def sparkline_svg(points: Sequence[TrendPoint], *, title: str, threshold: float | None = None) -> Markup:
    """A small line of ``value`` over nights, one mark per night (green passed, red failed, blue a metric).

    A night without a value gets its mark on the baseline; the threshold, when given, is a dashed line.
    Each mark's tooltip names its night and value.
    """
    width, height, pad = 180, 30, 5
    scale = [p.value for p in points if p.value is not None]
    if threshold is not None:
        scale.append(threshold)
    low, high = (min(scale), max(scale)) if scale else (0.0, 1.0)
    if high == low:
        low, high = low - 1.0, high + 1.0

    def y_of(value: float | None) -> float:
        return (
            height - pad
            if value is None
            else height - pad - (value - low) / (high - low) * (height - 2 * pad)
        )

    step = (width - 2 * pad) / (len(points) - 1) if len(points) > 1 else 0.0
    xs = [pad + i * step if len(points) > 1 else width / 2 for i in range(len(points))]
    parts: list[str] = []
    if threshold is not None:
        ty = y_of(threshold)
        parts.append(f'<line x1="{pad}" y1="{ty:.1f}" x2="{width - pad}" y2="{ty:.1f}" class="thr"/>')
    line = " ".join(
        f"{x:.1f},{y_of(p.value):.1f}" for x, p in zip(xs, points, strict=True) if p.value is not None
    )
    if line.count(",") > 1:
        parts.append(f'<polyline points="{line}" class="trend"/>')
    for x, point in zip(xs, points, strict=True):
        state = "metric" if point.passed is None else ("pass" if point.passed else "fail")
        colour = {"metric": BLUE, "pass": GREEN, "fail": RED}[state]
        radius = 3.5 if state == "fail" else 2.5
        tip = f"{point.night.isoformat()}: {format_number(point.value)}" + (
            "" if point.passed is None else (" (passed)" if point.passed else " (failed)")
        )
        parts.append(
            f'<circle class="pt {state}" cx="{x:.1f}" cy="{y_of(point.value):.1f}" r="{radius}" '
            f'fill="{colour}"><title>{escape(tip)}</title></circle>'
        )
    return Markup(
        f'<svg class="spark" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )
