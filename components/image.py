"""The one container image every component runs in, built from the repo's Dockerfile (`make image`, cloudbuild.yaml).

Components are defined on `DEFAULT_IMAGE`, a name that nobody publishes; compiling or submitting the pipeline pins
the image you built instead (``--image REF`` or $REGISTRY_IMAGE, read when the command runs: `pipelines.image`).
"""

IMAGE_ENV = "REGISTRY_IMAGE"
DEFAULT_IMAGE = "us-docker.pkg.dev/eyewearml/registry/model-registry-python:0.1.0"
