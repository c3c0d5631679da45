"""The image every task runs in: Dockerfile layout, its dependency lock, cloudbuild.yaml and `make image`.

No Docker engine runs here, so the image is never built in the suite; these tests pin what makes it build and run
under kfp (no ENTRYPOINT, dependencies from the lock in their own layer, linux/amd64) and what `make image` does
without an engine.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
INSTRUCTIONS = [line for line in DOCKERFILE.splitlines() if line and not line.startswith((" ", "#"))]


def instruction_index(prefix: str) -> int:
    return next(i for i, line in enumerate(INSTRUCTIONS) if line.startswith(prefix))


def test_the_dockerfile_has_no_entrypoint_that_kfp_s_command_would_be_appended_to() -> None:
    assert not [line for line in INSTRUCTIONS if line.startswith("ENTRYPOINT")]


def test_the_base_image_is_pinned_to_a_python_patch_release_and_a_debian_release() -> None:
    (arg,) = [line for line in INSTRUCTIONS if line.startswith("ARG BASE_IMAGE=")]
    assert re.fullmatch(r"ARG BASE_IMAGE=python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?", arg)
    assert INSTRUCTIONS[instruction_index("FROM")] == "FROM ${BASE_IMAGE} AS runtime"
    assert [line for line in INSTRUCTIONS if line.startswith("FROM")][1:] == [
        "FROM runtime AS serving",
        "FROM runtime AS pipeline",
    ]  # every other stage is built on the pinned one, nothing else is pulled


def stage(name: str) -> list[str]:
    """The instructions of the Dockerfile's stage `name`, its FROM first."""
    start = next(i for i, line in enumerate(INSTRUCTIONS) if line.startswith("FROM") and line.endswith(f" AS {name}"))
    end = next((i for i in range(start + 1, len(INSTRUCTIONS)) if INSTRUCTIONS[i].startswith("FROM")), None)
    return INSTRUCTIONS[start:end]


def test_the_default_image_is_the_pipeline_one_and_the_serving_stage_runs_serve_container() -> None:
    # `docker build` without --target builds the last stage: kfp's tasks get the image they always had
    assert INSTRUCTIONS[-1] == "FROM runtime AS pipeline"
    assert [line for line in stage("runtime") if line.startswith("CMD")] == ['CMD ["model-registry", "--help"]']
    serving = stage("serving")
    assert [line for line in serving if line.startswith("CMD")] == ['CMD ["model-registry", "serve-container"]']
    assert "EXPOSE 8080" in serving  # Vertex AI's and SageMaker's default port
    # SageMaker runs `docker run IMAGE serve`: without an ENTRYPOINT, `serve` must be a command on the PATH
    assert 'exec model-registry serve-container "$@"' in DOCKERFILE
    assert "/usr/local/bin/serve" in DOCKERFILE


def test_dependencies_are_installed_from_the_lock_before_the_source_is_copied() -> None:
    lock_copy = instruction_index("COPY requirements/image.txt")
    lock_install = instruction_index("RUN pip install --no-deps --require-hashes -r requirements/image.txt")
    first_source = instruction_index("COPY pyproject.toml")
    assert lock_copy < lock_install < first_source
    copies = [line for line in INSTRUCTIONS if line.startswith("COPY")]
    assert copies[0] == "COPY requirements/image.txt requirements/image.txt"  # nothing else in that layer
    assert "RUN pip install --no-deps --no-build-isolation ." in DOCKERFILE


def test_the_image_marks_itself_as_a_container_for_the_registry_tasks() -> None:
    assert "MODEL_REGISTRY_CONTAINER=1" in DOCKERFILE


def test_everything_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] == "!"]
    for line in INSTRUCTIONS:
        if line.startswith("COPY"):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") in allowed, source


def lock() -> dict[str, tuple[str, str]]:
    pins = {}
    for line in (ROOT / "requirements" / "image.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            match = re.fullmatch(r"([a-z0-9-]+)==(\S+) --hash=sha256:([0-9a-f]{64})", line)
            assert match, line
            pins[match[1]] = (match[2], match[3])
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_satisfies_every_requirement_of_the_image_s_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = project["dependencies"] + extras["kfp"] + extras["tf"] + extras["ui"]
    linux = default_environment() | {"sys_platform": "linux", "platform_system": "Linux", "python_version": "3.11"}
    pins = lock()
    for text in wanted:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate(linux):
            continue
        name = canonical(requirement.name)
        assert name in pins, f"{name} is not in requirements/image.txt: run make lock"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (text, pins[name][0])


def test_the_lock_has_the_build_backend_so_the_project_installs_without_fetching() -> None:
    assert {"setuptools", "wheel"} <= set(lock())


def test_cloud_build_builds_for_linux_amd64_and_pushes_the_tags_it_built() -> None:
    config = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    build, serving = config["steps"]
    tags = []
    for step in (build, serving):
        assert "--platform=linux/amd64" in step["args"]
        (tag,) = [a.removeprefix("--tag=") for a in step["args"] if a.startswith("--tag=")]
        tags.append(tag)
        used = set(re.findall(r"\$\{(_[A-Z_]+)\}", tag))
        assert used <= set(config["substitutions"])
    assert tags[0] == "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_IMAGE_NAME}:${_TAG}"
    assert tags[1] == "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_SERVING_IMAGE_NAME}:${_TAG}"
    assert not [a for a in build["args"] if a.startswith("--target")]
    assert "--target=serving" in serving["args"]
    assert config["images"] == tags


def test_cloud_build_uploads_what_the_dockerfile_copies() -> None:
    kept = (ROOT / ".gcloudignore").read_text()
    for needed in ("Dockerfile", "requirements/image.txt", "pyproject.toml", "registry_core/**", "pipelines/**"):
        assert f"!{needed}" in kept, needed


def test_make_image_without_a_docker_engine_says_how_to_build_with_cloud_build(tmp_path: Path) -> None:
    env = os.environ | {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}  # no engine, whatever the machine has
    result = subprocess.run(
        ["make", "-s", "image", "IMAGE=example/model-registry-python:test"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "make image needs a Docker engine" in result.stderr
    assert "gcloud builds submit --config cloudbuild.yaml" in result.stderr
