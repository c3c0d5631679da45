"""Component: train the eyewear model on a Dataset and export it as a SavedModel with its metrics."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.image import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def train_model(
    dataset: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    model_config: dict = {},  # noqa: B006 - KFP parameters take literal defaults
) -> None:
    """Train on the dataset's "train" split, evaluate on "validation", export a SavedModel into `model`."""
    import json
    from pathlib import Path

    from eyewear_model import EyewearModelConfig, evaluate, export_saved_model, train
    from registry_core.tasks import whole_numbers

    config = EyewearModelConfig.from_dict(whole_numbers(model_config))
    result = train(dataset.metadata["train"], dataset.metadata["validation"], config)
    evaluation = evaluate(result.model, dataset.metadata["validation"])
    export_saved_model(result.model, model.path)

    summary = evaluation.summary()
    for name, value in summary.items():
        metrics.log_metric(name, value)
    classification_metrics.log_confusion_matrix(evaluation.class_names, evaluation.confusion_matrix)
    # The metric artifacts also get their content as files: a cached result is reused only while its files exist.
    for artifact in (metrics, classification_metrics):
        Path(artifact.path).parent.mkdir(parents=True, exist_ok=True)
        Path(artifact.path).write_text(json.dumps(artifact.metadata, indent=2))
    model.metadata.update({"framework": "tensorflow", "metrics": summary, "config": config.to_dict()})
