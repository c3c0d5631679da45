"""Google Cloud console links for Vertex AI resources (the pages the SDK itself links to)."""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = ["pipeline_run_url", "pipeline_schedule_url"]

_CONSOLE = "https://console.cloud.google.com/vertex-ai"
_NAME = r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/{collection}/(?P<id>[^/]+)$"
_PIPELINE_JOB = re.compile(_NAME.format(collection="pipelineJobs"))
_SCHEDULE = re.compile(_NAME.format(collection="schedules"))


def pipeline_run_url(resource_name: str | None) -> str | None:
    """Return the console page of a Vertex AI pipeline run, or None if `resource_name` is not a pipeline job's.

    Args:
        resource_name: ``projects/{project}/locations/{region}/pipelineJobs/{job_id}`` (e.g. a version's
            ``lineage.pipeline_run``); anything else, such as a local run's name, has no page.

    Returns:
        ``https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/runs/{job_id}?project={project}``.
    """
    match = _PIPELINE_JOB.match((resource_name or "").strip())
    if match is None:
        return None
    location, job, project = (_part(match[k]) for k in ("location", "id", "project"))
    return f"{_CONSOLE}/locations/{location}/pipelines/runs/{job}?project={project}"


def pipeline_schedule_url(resource_name: str) -> str | None:
    """Return the console page of a Vertex AI pipeline schedule, or None if `resource_name` is not a schedule's.

    Args:
        resource_name: ``projects/{project}/locations/{region}/schedules/{schedule_id}``.

    Returns:
        ``https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/schedules/{id}?project={project}``.
    """
    match = _SCHEDULE.match(resource_name.strip())
    if match is None:
        return None
    location, schedule, project = (_part(match[k]) for k in ("location", "id", "project"))
    return f"{_CONSOLE}/locations/{location}/pipelines/schedules/{schedule}?project={project}"


def _part(text: str) -> str:
    """Escape a name for a URL (resource ids are URL-safe already; this keeps odd input from breaking the link)."""
    return quote(text, safe="")
