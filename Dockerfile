# The one image every pipeline component runs in: registry_core, kfp, TensorFlow (CPU) and the Google clients.
#   make image IMAGE=REGION-docker.pkg.dev/PROJECT/REPOSITORY/model-registry-python:TAG [PUSH=1]
# Its `serving` stage is the same image serving one version (`model-registry serve-container`) on Vertex AI, KServe
# or SageMaker, so that serving runs the TensorFlow that trained the model:
#   make image TARGET=serving IMAGE=REGION-docker.pkg.dev/PROJECT/REPOSITORY/model-registry-serving:TAG [PUSH=1]
#   gcloud builds submit --config cloudbuild.yaml   (builds for linux/amd64 and pushes to Artifact Registry)
# The base image is pinned to a Python patch release and a Debian release; pin its digest as well with
#   --build-arg BASE_IMAGE=python:3.11.13-slim-bookworm@sha256:<the digest `docker buildx imagetools inspect` shows>
ARG BASE_IMAGE=python:3.11.13-slim-bookworm
FROM ${BASE_IMAGE} AS runtime

# MODEL_REGISTRY_CONTAINER: registry tasks refuse a local registry root here (it would vanish with the container).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MODEL_REGISTRY_CONTAINER=1

WORKDIR /opt/registry

# Dependencies in their own layer, from the lock (exact versions and hashes): editing the source does not
# reinstall them. `make lock` writes the lock from pyproject.toml.
COPY requirements/image.txt requirements/image.txt
RUN pip install --no-deps --require-hashes -r requirements/image.txt

# The project itself, without dependencies (all of them are in the layer above) and without build isolation
# (setuptools and wheel are in the lock too, so the build fetches nothing).
COPY pyproject.toml README.md ./
COPY registry_core registry_core
COPY components components
COPY pipelines pipelines
COPY eyewear_model eyewear_model
RUN pip install --no-deps --no-build-isolation . && model-registry --help > /dev/null

# No ENTRYPOINT: kfp (Vertex AI, DockerRunner) runs each task's own command, `sh -ec ...`, in this image, and an
# entrypoint would be prepended to it. Tasks run as root: Vertex AI and kfp's launcher write task outputs under
# /gcs/, which other users may not be allowed to create.
CMD ["model-registry", "--help"]

# The serving image: still no ENTRYPOINT, so a platform's command or args replace the default command whole.
# SageMaker starts a container as `docker run IMAGE serve`: `serve` is that command.
FROM runtime AS serving
RUN printf '#!/bin/sh\nexec model-registry serve-container "$@"\n' > /usr/local/bin/serve \
    && chmod 755 /usr/local/bin/serve
EXPOSE 8080
CMD ["model-registry", "serve-container"]

# The last stage is what `docker build` builds without --target: the pipeline image, as before.
FROM runtime AS pipeline
