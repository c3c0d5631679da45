"""Component: profile the new training data and validate it against the production version's training profile."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Output

from components.image import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def validate_data(
    dataset: Input[Dataset],
    registry_root: str,
    model_name: str,
    profile: Output[Artifact],
    report: Output[HTML],
    summary: Output[Artifact],
    thresholds: dict = {},  # noqa: B006 - KFP parameters take literal defaults
) -> str:
    """Check the "train" split against the schema and training profile of `model_name`'s production version.

    Writes the split's profile into `profile` (``statistics.pb``, ``schema.pbtxt``), the report as an HTML page
    (`report`, shown in the Vertex AI console) and a JSON object (`summary`), and returns the status: "passed",
    "failed" or "no_baseline". The task succeeds either way, so that its outputs are recorded (a failed task records
    none on Vertex AI); `check_data_validation` then stops the run when the status is "failed".
    """
    from pathlib import Path

    from eyewear_model.data import read_rows
    from eyewear_model.schema import LABEL_KEY
    from registry_core.integration import validate_training_data
    from registry_core.monitoring.report import render_html, render_json
    from registry_core.monitoring.stored import save_profile
    from registry_core.tasks import open_task_registry, whole_numbers

    registry = open_task_registry(registry_root)
    new_profile, result = validate_training_data(
        registry, model_name, read_rows(dataset.metadata["train"]), whole_numbers(thresholds),
        label_keys=[LABEL_KEY],
    )  # fmt: skip
    save_profile(new_profile, profile.path)
    profile.metadata.update(new_profile.summary())
    for artifact, text in ((report, render_html(result)), (summary, render_json(result))):
        Path(artifact.path).parent.mkdir(parents=True, exist_ok=True)
        Path(artifact.path).write_text(text)
    summary.metadata.update({"status": result.status, "message": result.message, "report": report.uri,
                             "drift_detected": result.drift_detected, "anomalies": len(result.anomalies)})  # fmt: skip
    print(result.message)
    return result.status


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def check_data_validation(status: str, summary: Input[Artifact]) -> None:
    """Fail with the validation's one-line message and where its report is when `status` is "failed"."""
    if status == "failed":
        message = (
            f"data validation failed: {summary.metadata.get('message', '')} (report: {summary.metadata['report']})"
        )
        raise RuntimeError(message)
    print(f"data validation {status}: {summary.metadata.get('message', '')}")
