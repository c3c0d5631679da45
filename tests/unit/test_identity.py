"""The Google principal behind credentials, from real google-auth credential objects and local identity services."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from google.auth.credentials import AnonymousCredentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from support.google_auth_standin import MetadataServer, TokenServer

from registry_core.identity import google_principal

ROBOT = "trainer@my-project.iam.gserviceaccount.com"


def test_anonymous_credentials_have_no_principal() -> None:
    assert google_principal(AnonymousCredentials()) is None
    assert google_principal(None) is None


def test_a_service_account_key_names_its_account_without_a_request(tmp_path: Path) -> None:
    with TokenServer() as tokens:
        key = tokens.service_account_key(tmp_path, ROBOT)
        assert google_principal(service_account.Credentials.from_service_account_file(str(key))) == ROBOT
        assert tokens.requests == []


def test_user_credentials_from_gcloud_name_their_account() -> None:
    credentials = user_credentials.Credentials(token="t", account="ada@example.com")  # type: ignore[no-untyped-call]
    assert google_principal(credentials) == "ada@example.com"


def test_compute_credentials_learn_their_account_from_the_metadata_server(tmp_path: Path) -> None:
    """What a pipeline task on Vertex AI has: Application Default Credentials of the job's service account."""
    script = (
        "import google.auth\n"
        "from registry_core.identity import google_principal\n"
        "credentials, _ = google.auth.default()\n"
        "print(type(credentials).__name__, google_principal(credentials))\n"
    )
    with MetadataServer(ROBOT) as metadata:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GCE_", "CLOUDSDK_"))}
        env |= {"GCE_METADATA_HOST": metadata.address, "GCE_METADATA_IP": metadata.address,
                "HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(tmp_path / "gcloud")}  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Credentials", ROBOT]
