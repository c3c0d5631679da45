"""The HTML page of a monitoring run: its verdict, live quality, anomalies and drift per feature (all escaped)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from registry_core import html_tables
from registry_core.monitoring.report import page, validation_tables

if TYPE_CHECKING:
    from registry_core.monitoring.run_result import MonitorResult


def render_page(result: MonitorResult) -> str:
    """Return the run's standalone HTML page: verdict, quality, anomalies and drift per feature (all escaped)."""
    verdict = "alert" if result.alert else "ok"
    served = f"{result.model} {result.version}" if result.version else "nothing"
    window = result.as_dict()["window"]
    body = [
        f'<p class="{"failed" if result.alert else "passed"}"><strong>{verdict}</strong>: '
        f"{html.escape(result.reason)}</p>",
        f"<p>Endpoint {html.escape(result.endpoint)} served {html.escape(served)}: {result.predictions} logged "
        f"predictions from {html.escape(window['start'])} to {html.escape(window['end'])}.</p>",
    ]
    if result.other_versions:
        body.append(html_tables.table(["version", "predictions"], sorted(result.other_versions.items()),
                                      caption="Other versions in the window"))  # fmt: skip
    if result.gaps:
        body.append(html_tables.table(["what the run could not see", "count"], sorted(result.gaps.items()),
                                      caption="Incomplete: traffic not seen"))  # fmt: skip
    if result.retrain is not None:
        body.append(html_tables.table(["field", "value"], sorted(result.retrain.items()), caption="Retraining"))
    if result.quality is not None:
        q = result.quality
        rows = [[name, value, q.validated.get(name), q.degraded.get(name)] for name, value in q.metrics.items()]
        caption = f"Live quality ({q.labeled} predictions with feedback{'' if q.enough else ', too few to judge'})"
        body.append(html_tables.table(["metric", "live", "validated", "shortfall"], rows, caption=caption))
    if result.validation is not None:
        body.append(validation_tables(result.validation))
    return page(f"Monitoring of {result.endpoint}", "".join(body))
