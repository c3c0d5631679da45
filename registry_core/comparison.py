"""Side-by-side comparison of the metrics of several versions."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from registry_core import html_tables
from registry_core.metadata import ModelMetadata

_LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "latency", "perplexity")


def lower_is_better(metric: str) -> bool:
    """Return True for metrics where a smaller value is better (loss, error, latency...)."""
    name = metric.lower()
    return any(word in name for word in _LOWER_IS_BETTER)


class ModelComparison(BaseModel):
    """Metrics of several versions side by side.

    Attributes:
        model_name: The model compared.
        versions: Versions in the order asked for.
        metrics: metric -> version -> value (None where a version lacks the metric).
        best: metric -> the version with the best value (ties: the first).
    """

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    model_name: str
    versions: tuple[str, ...]
    metrics: dict[str, dict[str, float | None]]
    best: dict[str, str]

    def rows(self) -> list[list[str]]:
        """Return table rows: metric, one value per version (best marked with '*')."""
        rows = []
        for metric, values in self.metrics.items():
            cells = [metric]
            for version in self.versions:
                value = values[version]
                mark = " *" if self.best.get(metric) == version else ""
                cells.append("-" if value is None else f"{value:.4g}{mark}")
            rows.append(cells)
        return rows

    def _repr_html_(self) -> str:
        """Return the comparison as an HTML table: a row per metric, a column per version, the best in bold."""
        rows = [
            [
                metric,
                *(html_tables.Strong(values[v]) if self.best.get(metric) == v else values[v] for v in self.versions),
            ]
            for metric, values in self.metrics.items()
        ]
        return html_tables.table(["metric", *self.versions], rows, caption=self.model_name)


def compare(model_name: str, versions: Sequence[ModelMetadata], metrics: Sequence[str] | None) -> ModelComparison:
    """Build a ModelComparison of `versions`, restricted to `metrics` if given."""
    values = {m.version: m.metrics.as_dict() for m in versions}
    names = list(metrics) if metrics else sorted({name for v in values.values() for name in v})
    table: dict[str, dict[str, float | None]] = {}
    best: dict[str, str] = {}
    for name in names:
        table[name] = {version: values[version].get(name) for version in values}
        present = [(v, x) for v, x in table[name].items() if x is not None]
        if present:
            pick = min if lower_is_better(name) else max
            best[name] = pick(present, key=lambda item: item[1])[0]
    return ModelComparison(model_name=model_name, versions=tuple(values), metrics=table, best=best)
