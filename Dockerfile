# The one image every pipeline component runs in: registry_core, kfp, TensorFlow (CPU) and the Google clients.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/registry
COPY . .
RUN pip install --upgrade pip && pip install '.[all]'

RUN useradd --create-home registry
USER registry
ENTRYPOINT ["model-registry"]
