"""Inline SVG charts drawn on the server: no script and nothing fetched from elsewhere."""

from __future__ import annotations

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
