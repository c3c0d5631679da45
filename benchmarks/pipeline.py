"""``python -m benchmarks.pipeline``: the local pipeline end to end against the same steps called in-process.

Prints, measured in the same run on the same data:
* the train-and-register pipeline through ``kfp.local.SubprocessRunner(use_venv=False)``, end to end;
* the sum of the same component functions called in this process (``.python_func``, same arguments);
* kfp's per-task overhead: a pipeline of N no-op tasks, per task.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

NUM_TRAIN = int(os.environ.get("BENCH_PIPELINE_NUM_TRAIN", "1000"))
EPOCHS = int(os.environ.get("BENCH_PIPELINE_EPOCHS", "2"))
THRESHOLDS = {"accuracy": 0.05}
MODEL = "eyewear-bench"


def in_process(root: Path) -> dict[str, float]:
    """Run every step's function in this process; return seconds per step."""
    from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Metrics, Model

    from components import generate_data, promote_model, register_model, train_model, validate_model

    registry = str(root / "registry")
    times: dict[str, float] = {}

    def timed(step: str, call: object) -> object:
        started = time.perf_counter()
        result = call()  # type: ignore[operator]
        times[step] = time.perf_counter() - started
        return result

    def artifact(kind: type, name: str) -> object:
        return kind(name=name, uri=str(root / "steps" / name), metadata={})

    dataset = artifact(Dataset, "dataset")
    model = artifact(Model, "model")
    timed("data", lambda: generate_data.python_func(dataset=dataset, num_train=NUM_TRAIN))
    timed("train", lambda: train_model.python_func(
        dataset=dataset, model=model, metrics=artifact(Metrics, "train-metrics"),
        classification_metrics=artifact(ClassificationMetrics, "confusion"), model_config={"epochs": EPOCHS},
    ))  # fmt: skip
    registered = artifact(Model, "registered_model")
    version = timed("register", lambda: register_model.python_func(
        model=model, dataset=dataset, registry_root=registry, model_name=MODEL, registered_model=registered,
        pipeline_run="in-process",
    ))  # fmt: skip
    timed("validate", lambda: validate_model.python_func(
        dataset=dataset, model=registered, registry_root=registry, metrics=artifact(Metrics, "holdout"),
        report=artifact(Artifact, "report"), thresholds=THRESHOLDS,
    ))  # fmt: skip
    timed("promote", lambda: promote_model.python_func(
        registry_root=registry, model_name=MODEL, version=version, stage="staging",
    ))  # fmt: skip
    return times


def end_to_end(root: Path) -> float:
    """Run the whole pipeline with kfp's local runner; return seconds."""
    from pipelines.local import run_local

    started = time.perf_counter()
    run_local(
        registry_root=str(root / "registry"), pipeline_root=root / "runs", model_name=MODEL, num_train=NUM_TRAIN,
        model_config={"epochs": EPOCHS}, thresholds=THRESHOLDS,
    )  # fmt: skip
    return time.perf_counter() - started


def per_task_overhead(root: Path) -> tuple[float, int]:
    """Return kfp.local's cost of one task (a chain of no-op tasks, per task) and the number of tasks."""
    from kfp import local

    from benchmarks.noop_component import NOOP_TASKS, noop_chain

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root / "noop"))
    started = time.perf_counter()
    noop_chain()
    return (time.perf_counter() - started) / NOOP_TASKS, NOOP_TASKS


def main() -> None:
    """Measure and print the comparison."""
    import logging

    logging.disable(logging.INFO)  # kfp.local logs every task's inputs and outputs
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as scratch:
        root = Path(scratch)
        steps = in_process(root / "in-process")
        pipeline = end_to_end(root / "kfp-local")
        overhead, noop_tasks = per_task_overhead(root)
    total = sum(steps.values())
    rows = [(f"in-process {name}", f"{seconds:.2f} s") for name, seconds in steps.items()]
    rows += [
        ("in-process, all steps", f"{total:.2f} s"),
        ("kfp.local pipeline, end to end", f"{pipeline:.2f} s"),
        ("pipeline ÷ in-process", f"{pipeline / total:.2f}×"),
        (f"kfp.local overhead per task ({noop_tasks} no-op tasks)", f"{overhead:.2f} s"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{'measurement'.ljust(width)}  value")
    print(f"{'-' * width}  -------")
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
