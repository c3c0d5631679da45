"""The API's OpenAPI schema, fuzzed with schemathesis against the ASGI app on a real registry.

Every default check runs: no 5xx, documented status codes and content types, responses matching their schemas,
schema-valid requests accepted and invalid ones rejected. Changes are made as bob (a configured token).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from web_support import BEARER, build_registry, web_config

from registry_core.web.app import create_app

# The schema is read when the tests are collected, so the app (and its registry) exist from then on. Generated
# requests try wrong tokens too: a limit on them would soon answer every request with 429 and test nothing else.
_FOLDER = tempfile.TemporaryDirectory(prefix="registry-fuzz-")
_APP = create_app(
    web_config(wrong_token_limit=1_000_000),
    build_registry(Path(_FOLDER.name) / "registry", Path(_FOLDER.name) / "work"),
)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _APP)


@pytest.fixture(scope="module", autouse=True)
def _remove_the_registry() -> Iterator[None]:
    yield
    _FOLDER.cleanup()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_handles_every_generated_request(case: Any) -> None:
    case.call_and_validate(headers=dict(BEARER["bob"]))
