"""Inline SVG charts drawn on the server: no script and nothing fetched from elsewhere."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup

from registry_core.comparison import ModelComparison, lower_is_better
from registry_core.deploy import EndpointRecord

PALETTE = ("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626")


def comparison_chart(comparison: ModelComparison, width: int = 760) -> Markup:
    """Return a grouped horizontal bar chart of the compared metrics (one group per metric, one bar per version).

    Each metric is scaled to its own largest absolute value, so metrics of different ranges share the chart.
    """
    versions = comparison.versions
    metrics = [m for m, values in comparison.metrics.items() if any(v is not None for v in values.values())]
    bar, gap, label_w, value_w = 16, 14, 150, 70
    group_h = bar * len(versions) + gap
    legend_h = 28
    height = legend_h + group_h * len(metrics) + 8
    plot_w = width - label_w - value_w
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="compare-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="Metrics of {escape(comparison.model_name)} {escape(", ".join(versions))}">'
    ]
    for index, version in enumerate(versions):
        x = label_w + index * 110
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" rx="2" fill="{PALETTE[index % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 18}" y="16" class="legend">{escape(version)}</text>')
    for row, metric in enumerate(metrics):
        values = comparison.metrics[metric]
        top = legend_h + row * group_h
        scale = max(abs(v) for v in values.values() if v is not None) or 1.0
        hint = " (lower is better)" if lower_is_better(metric) else ""
        parts.append(
            f'<text x="0" y="{top + group_h / 2}" class="metric" dominant-baseline="middle">'
            f"{escape(metric)}<title>{escape(metric + hint)}</title></text>"
        )
        for index, version in enumerate(versions):
            value = values.get(version)
            y = top + index * bar
            color = PALETTE[index % len(PALETTE)]
            if value is None:
                parts.append(f'<text x="{label_w + 4}" y="{y + bar - 4}" class="missing">no value</text>')
                continue
            w = max(1.0, plot_w * abs(value) / scale)
            best = comparison.best.get(metric) == version
            parts.append(
                f'<rect class="bar{" best" if best else ""}" x="{label_w}" y="{y + 1}" width="{w:.1f}" '
                f'height="{bar - 3}" rx="2" fill="{color}" data-version="{escape(version)}" '
                f'data-metric="{escape(metric)}" data-value="{value:.6g}">'
                f"<title>{escape(version)} {escape(metric)} = {value:.6g}</title></rect>"
            )
            star = " ★" if best else ""
            parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + bar - 4}" class="value">{value:.4g}{star}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # every interpolated text is escaped above


def traffic_bar(record: EndpointRecord, labels: dict[str, str], width: int = 320) -> Markup:
    """Return a one-line stacked bar of an endpoint's traffic split (deployed id -> percent)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="traffic" viewBox="0 0 {width} 18" width="{width}" '
        f'height="18" role="img" aria-label="traffic split">'
    ]
    x = 0.0
    shares = [(i, p) for i, p in record.traffic.items() if p > 0]
    if not shares:
        parts.append(f'<rect x="0" y="0" width="{width}" height="18" rx="3" fill="#e5e7eb"/>')
    for index, (deployed_id, percent) in enumerate(shares):
        w = width * percent / 100
        label = labels.get(deployed_id, deployed_id)
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="18" fill="{PALETTE[index % len(PALETTE)]}">'
            f"<title>{escape(label)}: {percent}%</title></rect>"
        )
        if w > 40:
            parts.append(f'<text x="{x + 5:.1f}" y="13" class="share">{escape(label)} {percent}%</text>')
        x += w
    parts.append("</svg>")
    return Markup("".join(parts))  # every interpolated text is escaped above


# ------------------------------------------------------------------------------------------------ over time

LINE_PALETTE = (*PALETTE, "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d")
_LEGEND_CHARS = 28  # longer names are cut in the legend; the whole name is in its tooltip


@dataclass(frozen=True)
class Series:
    """One line of a chart over time.

    Attributes:
        name: What the line shows (a feature, a metric).
        points: (time, value) pairs in time order; a value of None leaves a gap.
    """

    name: str
    points: Sequence[tuple[datetime, float | None]]


@dataclass(frozen=True)
class Reference:
    """A dashed horizontal line across a chart (a threshold, a validated value).

    Attributes:
        value: Where it is.
        label: What it is, written at its right end.
    """

    value: float
    label: str


def _value_axis(low: float, high: float) -> tuple[float, float, float]:
    """Return the ends and tick step of a value axis covering low..high, with 4-7 round ticks (0.05, 0.1, 0.25...)."""
    if high - low <= 0:
        return low, low + 1.0, 0.25
    rough = (high - low) / 5
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def time_chart(
    series: Sequence[Series],
    references: Sequence[Reference] = (),
    *,
    chart_id: str,
    title: str,
    width: int = 760,
    height: int = 240,
) -> Markup:
    """Return a line chart of values over time: one line per series, a dot per value, dashed reference lines.

    Times are placed by their date, so irregular runs keep their spacing; a single time sits in the middle. The
    value axis starts at zero unless a value is negative, and reaches above the highest value or reference.
    """
    values = [v for s in series for _, v in s.points if v is not None] + [r.value for r in references]
    times = [t for s in series for t, _ in s.points]
    legend_rows = -(-len(series) // 4)
    left, right, top, bottom = 52, 16, 10 + 20 * legend_rows, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high, step = _value_axis(min([0.0, *values]), max([0.0, *values]))
    first, last = (min(times), max(times)) if times else (datetime.min, datetime.min)
    span = (last - first).total_seconds()

    def x_of(moment: datetime) -> float:
        share = (moment - first).total_seconds() / span if span > 0 else 0.5
        return left + plot_w * share

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart timeline-chart" id="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" aria-label="{escape(title)}">'
    ]
    for tick in range(round((high - low) / step) + 1):
        level = low + tick * step
        y = y_of(level)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{level:.3g}</text>')
    for moment in sorted({first, last, first + (last - first) / 2} if times else set()):
        anchor = "start" if moment == first and span > 0 else "end" if moment == last and span > 0 else "middle"
        parts.append(
            f'<text class="tick" x="{x_of(moment):.1f}" y="{height - 8}" text-anchor="{anchor}">'
            f"{moment:%Y-%m-%d %H:%M}</text>"
        )
    for reference in references:
        y = y_of(reference.value)
        parts.append(
            f'<g class="reference" data-value="{reference.value:.6g}">'
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{width - right - 4}" y="{y - 4:.1f}" text-anchor="end">{escape(reference.label)}</text></g>'
        )
    for index, line in enumerate(series):
        color = LINE_PALETTE[index % len(LINE_PALETTE)]
        x, y = left + (index % 4) * (plot_w // 4), 8 + 20 * (index // 4)
        shown = line.name if len(line.name) <= _LEGEND_CHARS else line.name[: _LEGEND_CHARS - 1] + "…"
        parts.append(
            f'<g class="legend"><rect x="{x}" y="{y}" width="12" height="12" rx="2" fill="{color}"/>'
            f'<text x="{x + 18}" y="{y + 10}">{escape(shown)}<title>{escape(line.name)}</title></text></g>'
        )
        parts.append(f'<g class="series" data-series="{escape(line.name)}" stroke="{color}" fill="{color}">')
        path, pen_down = [], False
        for moment, value in line.points:
            if value is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x_of(moment):.1f},{y_of(value):.1f}")
            pen_down = True
        if path:
            parts.append(f'<path d="{" ".join(path)}" fill="none"/>')
        for moment, value in line.points:
            if value is not None:
                parts.append(
                    f'<circle class="point" cx="{x_of(moment):.1f}" cy="{y_of(value):.1f}" r="3" '
                    f'data-value="{value:.6g}"><title>{escape(line.name)} {moment:%Y-%m-%d %H:%M}: '
                    f"{value:.4g}</title></circle>"
                )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # every interpolated text is escaped above


# ------------------------------------------------------------------------------------------------- small bars


def mini_bars(bars: Sequence[tuple[float, str]], *, label: str, width: int = 120, height: int = 28) -> Markup:
    """Return a small column chart (a histogram, the shares of a few values): one column per (value, tooltip).

    Columns are scaled to the largest value; a value of zero still draws a hairline, so every bucket is visible.
    """
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="mini-bars" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">'
    ]
    top = max((value for value, _ in bars), default=0.0) or 1.0
    step = width / max(len(bars), 1)
    for index, (value, tip) in enumerate(bars):
        h = max(1.0, (height - 2) * value / top)
        parts.append(
            f'<rect x="{index * step + 1:.1f}" y="{height - h:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}" data-value="{value:.6g}"><title>{escape(tip)}</title></rect>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # every interpolated text is escaped above
