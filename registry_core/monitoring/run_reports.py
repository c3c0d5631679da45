"""Where each monitoring run's report lives, and reading an endpoint's past runs back (for charts over time).

    monitoring/<endpoint>/reports/<YYYYMMDDTHHMMSSffffffZ>-<id>.json   the run's summary (MonitorResult.as_dict())
    monitoring/<endpoint>/reports/<YYYYMMDDTHHMMSSffffffZ>-<id>.html   the same, as a page for people

Names start with the run's time, so a listing is in time order; both files of a run share the name.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry_core.arguments import validate_name
from registry_core.errors import CorruptRecordError, NotFoundError
from registry_core.monitoring.log_layout import MONITORING_PREFIX
from registry_core.storage.base import StorageBackend

logger = logging.getLogger(__name__)

REPORTS = "reports"
_STAMP = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True)
class ReportKeys:
    """The two objects of one run's report.

    Attributes:
        summary: Key of the JSON summary.
        page: Key of the HTML page.
    """

    summary: str
    page: str


def reports_prefix(endpoint: str) -> str:
    """Return the folder of an endpoint's monitoring reports. Raises: InvalidNameError."""
    return f"{MONITORING_PREFIX}{validate_name(endpoint, 'endpoint')}/{REPORTS}/"


def new_report_keys(endpoint: str, at: datetime) -> ReportKeys:
    """Return fresh keys for a run checked at `at` (a random part keeps runs of the same microsecond apart)."""
    stem = f"{reports_prefix(endpoint)}{at.astimezone(UTC):{_STAMP}}-{secrets.token_hex(4)}"
    return ReportKeys(summary=f"{stem}.json", page=f"{stem}.html")


def write_report(storage: StorageBackend, keys: ReportKeys, summary: dict[str, Any], page: str) -> None:
    """Store a run's page, then its summary: a summary is listed only once the page it links to exists."""
    storage.write(keys.page, page.encode("utf-8"))
    storage.write(keys.summary, json.dumps(summary, sort_keys=True).encode("utf-8"))


def list_reports(storage: StorageBackend, endpoint: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Return the summaries of an endpoint's monitoring runs, oldest first (the newest `limit` of them).

    A summary that cannot be read or parsed is skipped with a warning: one damaged report must not hide the others.
    """
    keys = sorted(k for k in storage.list(reports_prefix(endpoint)) if k.endswith(".json"))
    if limit is not None:
        keys = keys[-limit:] if limit > 0 else []
    found = []
    for key in keys:
        try:
            document = json.loads(storage.read(key))
        except NotFoundError:
            continue  # removed since the listing
        except (ValueError, UnicodeDecodeError) as exc:
            logger.warning("skipping the unreadable monitoring report %s: %s", key, exc)
            continue
        if isinstance(document, dict):
            found.append(document)
    return found


def read_report_page(storage: StorageBackend, endpoint: str, name: str) -> str:
    """Return the HTML page of the run whose summary or page is named `name` (the file name, no folder).

    Raises:
        NotFoundError: no such report. CorruptRecordError: the page is not UTF-8.
    """
    stem = name.removesuffix(".json").removesuffix(".html")
    if not stem or "/" in stem or stem.startswith("."):
        msg = f"no monitoring report {name!r} for endpoint {endpoint!r}"
        raise NotFoundError(msg)
    key = f"{reports_prefix(endpoint)}{stem}.html"
    try:
        return storage.read(key).decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"the monitoring report {key} is not UTF-8 text"
        raise CorruptRecordError(msg) from exc
