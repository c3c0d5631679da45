"""Reports of a data validation: one JSON object with stable keys, and a self-contained HTML page."""

from __future__ import annotations

import html
import json

from registry_core import html_tables
from registry_core.monitoring.validation import DataValidation

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2328; }
table.registry-core { border-collapse: collapse; margin: 1rem 0; }
table.registry-core th, table.registry-core td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; }
table.registry-core caption { text-align: left; font-weight: 600; padding: 4px 0; }
.passed { color: #1a7f37; } .failed { color: #cf222e; } .no_baseline { color: #57606a; }
"""


def render_json(result: DataValidation) -> str:
    """Return the result as one JSON object (see `DataValidation.as_dict` for the keys)."""
    return json.dumps(result.as_dict(), indent=2, sort_keys=True)


def render_html(result: DataValidation, *, title: str = "Data validation") -> str:
    """Return a standalone HTML page (no scripts, no external files) listing anomalies and drift per feature."""
    status = html.escape(result.status)
    return page(
        title,
        f'<p class="{status}"><strong>{status.replace("_", " ")}</strong>: {html.escape(result.message)}</p>'
        f"<p>{result.num_examples} rows"
        f"{' compared with ' + html.escape(result.baseline) if result.baseline else ''}.</p>"
        f"{validation_tables(result)}",
    )


def validation_tables(result: DataValidation) -> str:
    """Return the HTML tables of a validation's anomalies and drift per feature (every value escaped)."""
    anomalies = html_tables.table(
        ["feature", "anomaly", "share of rows", "values", "description"],
        [[a.feature, a.kind, f"{a.fraction:.2%}", a.values, a.description] for a in result.anomalies],
        caption=f"Anomalies ({len(result.anomalies)})",
    )
    drift = html_tables.table(
        ["feature", "test", "score", "threshold", "drifted", "baseline values", "new values"],
        [
            [d.feature, d.test, html_tables.Strong(d.score) if d.drifted else d.score, d.threshold,
             "yes" if d.drifted else "no", d.baseline_count, d.current_count]
            for d in result.drift
        ],
        caption="Drift per feature",
    )  # fmt: skip
    return anomalies + drift


def page(title: str, body: str) -> str:
    """Return a standalone HTML page with the reports' style around `body` (already HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )
