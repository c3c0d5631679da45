"""The examples run as a new user would run them: examples/quickstart.py twice, examples/registry.ipynb in a kernel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"


def test_the_quickstart_registers_promotes_and_compares_on_the_default_registry(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MODEL_REGISTRY_ROOT"} | {"XDG_DATA_HOME": str(tmp_path)}

    first = subprocess.run([sys.executable, str(QUICKSTART)], env=env, capture_output=True, text=True, timeout=120)
    second = subprocess.run([sys.executable, str(QUICKSTART)], env=env, capture_output=True, text=True, timeout=120)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert f"registry: {(tmp_path / 'model-registry').as_uri()}" in first.stdout
    assert "v1 is now in production" in first.stdout
    assert "champion v1 vs challenger v2" in second.stdout


NOTEBOOK = QUICKSTART.with_name("registry.ipynb")
# What each table-returning call shows in the notebook: (first header cells, a value that must be in it).
TABLES = {
    "list_versions": "<th>version</th><th>stage</th><th>accuracy</th><th>auc</th><th>loss</th>",
    "get_model_metadata": "<caption>notebook-demo v2</caption><thead><tr><th>field</th><th>value</th>",
    "compare_models": "<th>metric</th><th>v1</th><th>v2</th>",
    "history": "<th>at</th><th>actor</th><th>action</th><th>version</th>",
    "list_endpoints": "<th>endpoint</th><th>target</th><th>serving</th>",
}


def test_the_notebook_runs_and_shows_versions_comparisons_and_history_as_tables(tmp_path: Path) -> None:
    import nbclient
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "MODEL_REGISTRY_ROOT"} | {"XDG_DATA_HOME": str(tmp_path)}
    client = nbclient.NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )

    client.execute(env=env)  # raises CellExecutionError if a cell fails

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert [out for out in outputs if out.output_type == "error"] == []
    shown = "\n".join(out.get("data", {}).get("text/html", "") for out in outputs)
    for call, header in TABLES.items():
        assert header in shown, f"{call} shows no table"
    assert "refused: " in "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "<td>v2</td><td>production</td>" in shown
    assert (tmp_path / "model-registry" / "heads").is_dir()  # the local default, not the user's registry
