"""Google Cloud console links of Vertex AI pipeline runs and schedules, from their resource names."""

from __future__ import annotations

import pytest

from registry_core.console import pipeline_run_url, pipeline_schedule_url

RUN = "projects/test-project/locations/europe-west4/pipelineJobs/eyewear-train-and-register-20260101-ab12"


def test_a_run_links_to_its_page_in_its_region_and_project() -> None:
    assert pipeline_run_url(RUN) == (
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/pipelines/runs/"
        "eyewear-train-and-register-20260101-ab12?project=test-project"
    )


def test_a_schedule_links_to_its_page() -> None:
    assert pipeline_schedule_url("projects/123/locations/us-central1/schedules/456") == (
        "https://console.cloud.google.com/vertex-ai/locations/us-central1/pipelines/schedules/456?project=123"
    )


@pytest.mark.parametrize("name", [None, "", "local-run-7", "projects/p/locations/l/schedules/1", "projects/p"])
def test_anything_but_a_pipeline_job_has_no_run_page(name: str | None) -> None:
    assert pipeline_run_url(name) is None


def test_odd_characters_cannot_break_out_of_the_link() -> None:
    url = pipeline_run_url("projects/a&b=c/locations/us-central1/pipelineJobs/j")
    assert url is not None
    assert url.endswith("?project=a%26b%3Dc")
