"""Compile the train-and-register pipeline to the YAML that Vertex AI Pipelines (or any KFP cluster) runs."""

from __future__ import annotations

from pathlib import Path

DEFAULT_OUTPUT = "eyewear-train-and-register.yaml"


def compile_pipeline(output: str | Path = DEFAULT_OUTPUT) -> Path:
    """Write the compiled pipeline to `output` and return its path."""
    from kfp import compiler

    from pipelines.train_and_register import train_and_register

    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_func=train_and_register, package_path=str(path))
    return path
