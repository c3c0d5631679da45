"""The published component specs (components/specs/*.yaml): in sync with the code, loadable, and runnable."""

# no `from __future__ import annotations`: the test pipeline below is read by KFP
from pathlib import Path

import pytest
import yaml
from kfp import components, dsl, local

from components.image import DEFAULT_IMAGE
from pipelines.specs import SPECS_DIR, spec_components, write_specs
from registry_core import ModelRegistry

NAMES = ["deploy", "promote", "register", "rollback", "train", "validate", "validate_data"]

# kfp.local says that display names and resource limits mean nothing to it: true, and not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore:Task .* have no effect in the current local runner:UserWarning")


def test_there_is_one_spec_per_published_component() -> None:
    assert sorted(p.stem for p in SPECS_DIR.glob("*.yaml")) == sorted(spec_components()) == NAMES


def test_the_specs_in_the_repo_are_what_make_specs_writes_from_the_code(tmp_path: Path) -> None:
    for path in write_specs(tmp_path):
        assert path.read_text() == (SPECS_DIR / path.name).read_text(), f"{path.name} is stale: run make specs"


@pytest.mark.parametrize("name", NAMES)
def test_each_spec_loads_with_the_inputs_and_outputs_of_its_component(name: str) -> None:
    loaded = components.load_component_from_file(str(SPECS_DIR / f"{name}.yaml"))
    code = spec_components()[name]
    assert loaded.name == code.name
    assert set(loaded.component_spec.inputs or {}) == set(code.component_spec.inputs or {})
    assert set(loaded.component_spec.outputs or {}) == set(code.component_spec.outputs or {})
    assert loaded.component_spec.implementation.container.image == DEFAULT_IMAGE


def test_specs_can_be_written_for_another_image(tmp_path: Path) -> None:
    image = "europe-docker.pkg.dev/acme/ml/model-registry-python:2.0.0"
    for path in write_specs(tmp_path, image=image):
        executors = yaml.safe_load(path.read_text())["deploymentSpec"]["executors"]
        assert {e["container"]["image"] for e in executors.values()} == {image}


def test_a_loaded_spec_runs_in_a_pipeline(tmp_path: Path) -> None:
    root = str(tmp_path / "registry")
    folder = tmp_path / "artifacts"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"weights")
    ModelRegistry.from_uri(root).register_model("eyewear", folder, registered_by="alice")
    promote = components.load_component_from_file(str(SPECS_DIR / "promote.yaml"))

    @dsl.pipeline(name="promote-from-spec")
    def promote_from_spec(registry_root: str) -> str:
        return promote(
            registry_root=registry_root, model_name="eyewear", version="v1", stage="validation", actor="ci-bot"
        ).output

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "runs"))
    assert promote_from_spec(registry_root=root).output == "validation"
    assert ModelRegistry.from_uri(root).history("eyewear")[-1].actor == "ci-bot"
