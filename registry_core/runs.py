"""Pipeline runs named in lineage: Vertex AI pipeline job resource names and their Cloud console links."""

from __future__ import annotations

import re
from urllib.parse import quote

_VERTEX_JOB = re.compile(
    r"^projects/(?P<project>[^/\s]+)/locations/(?P<location>[a-z0-9-]+)/pipelineJobs/(?P<job>[a-z0-9][-a-z0-9]*)$"
)


def pipeline_run_url(pipeline_run: str | None) -> str | None:
    """Return the Cloud console page of a Vertex AI pipeline run, or None if `pipeline_run` names none.

    Args:
        pipeline_run: A version's ``lineage.pipeline_run``; a Vertex run is recorded by its resource name,
            ``projects/PROJECT/locations/REGION/pipelineJobs/JOB``. Anything else (a local run's name) has no page.

    Returns:
        ``https://console.cloud.google.com/vertex-ai/locations/REGION/pipelines/runs/JOB?project=PROJECT``, or None.
    """
    match = _VERTEX_JOB.match(pipeline_run or "")
    if match is None:
        return None
    location, job, project = match["location"], match["job"], quote(match["project"], safe="")
    return f"https://console.cloud.google.com/vertex-ai/locations/{location}/pipelines/runs/{job}?project={project}"
