"""Who is acting: the Google principal behind a registry's credentials, else the name this process runs under.

On a ``gs://`` registry every change is made with Google credentials: a pipeline task on Vertex AI runs as the
job's service account, a laptop as the user who ran ``gcloud auth application-default login``. That identity is
the default actor (a login name inside a container says nothing: it is the image's user). A name given explicitly
(``--registered-by``, ``approved_by``, ``MODEL_REGISTRY_USER``) is recorded as the actor, and the principal beside
it in the history, as acting on behalf of that name.
"""

from __future__ import annotations

import logging
from typing import Any

_LOG = logging.getLogger(__name__)
_TOKENINFO = "https://oauth2.googleapis.com/tokeninfo"


def google_principal(credentials: Any) -> str | None:
    """Return the e-mail of the Google identity behind `credentials`, or None if there is none or it is unknown.

    Service account keys and impersonated credentials name their account; on Google Cloud compute (Vertex AI
    tasks, GCE, Cloud Run) the metadata server names it when the credentials refresh; user credentials from
    ``gcloud`` carry their account, else Google's token info tells (one request).
    """
    if credentials is None or type(credentials).__name__ == "AnonymousCredentials":
        return None
    try:
        from google.auth import exceptions
        from google.auth.transport.requests import Request
    except ImportError:  # pragma: no cover - google-auth comes with google-cloud-storage
        return None
    try:
        email = _named(credentials)
        if email is None and hasattr(credentials, "service_account_email"):
            credentials.refresh(Request())  # compute credentials learn their account from the metadata server
            email = _named(credentials)
        if email is None and getattr(credentials, "token", None) is None and hasattr(credentials, "refresh"):
            credentials.refresh(Request())
        if email is None and getattr(credentials, "token", None):
            email = _token_email(credentials.token)
    except (exceptions.GoogleAuthError, OSError, ValueError) as exc:
        _LOG.debug("cannot tell the Google principal of %s: %s", type(credentials).__name__, exc)
        return None
    return email


def _named(credentials: Any) -> str | None:
    for attribute in ("service_account_email", "signer_email", "account"):
        value = getattr(credentials, attribute, None)
        if isinstance(value, str) and "@" in value:
            return value
    return None


def _token_email(token: str) -> str | None:
    import requests

    response = requests.get(_TOKENINFO, params={"access_token": token}, timeout=10)
    if response.status_code != 200:
        return None
    email = response.json().get("email")
    return email if isinstance(email, str) and "@" in email else None
