"""WebConfig from files and variables, token files, and the `model-registry ui` command as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from web_support import free_port

from registry_core import InvalidInputError, ModelRegistry
from registry_core.web.config import WebConfig

TOML = """
registry = "/srv/registry"
auth_mode = "iap"
approvers = ["lead@example.com"]
base_url = "https://registry.example.com"

[iap]
audience = "/projects/1/global/backendServices/2"
keys_file = "/etc/registry/iap-keys.json"

[email]
host = "smtp.example.com"
port = 587
security = "starttls"
from_addr = "registry@example.com"
[email.recipients]
promotion_requested = ["leads@example.com"]
all = ["audit@example.com"]

[[webhooks]]
url = "https://hooks.example.com/registry"
secret_env = "HOOK_SECRET"
events = ["promoted", "rolled_back"]
"""


def test_a_toml_file_sets_every_section(tmp_path: Path) -> None:
    path = tmp_path / "ui.toml"
    path.write_text(TOML)
    config = WebConfig.load(path, env={})
    assert (config.registry, config.auth_mode, config.approvers) == ("/srv/registry", "iap", ["lead@example.com"])
    assert config.iap is not None
    assert config.iap.issuer == "https://cloud.google.com/iap"
    assert config.email is not None
    assert (config.email.port, config.email.security) == (587, "starttls")
    assert config.webhooks[0].events == ["promoted", "rolled_back"]


def test_variables_override_the_file_and_json_files_work(tmp_path: Path) -> None:
    path = tmp_path / "ui.json"
    path.write_text(json.dumps({"tokens": {"file-token-123": "alice"}, "allow_anonymous_read": False}))
    env = {"MODEL_REGISTRY_UI_ALLOW_ANONYMOUS_READ": "true", "MODEL_REGISTRY_UI_APPROVERS": '["bob"]',
           "MODEL_REGISTRY_UI_SESSION_SECRET": "from-the-environment-123"}  # fmt: skip
    config = WebConfig.load(path, env=env)
    assert config.allow_anonymous_read is True
    assert config.approvers == ["bob"]
    assert config.session_secret == "from-the-environment-123"
    assert config.tokens == {"file-token-123": "alice"}


def test_the_config_file_can_be_named_by_a_variable(tmp_path: Path) -> None:
    path = tmp_path / "ui.toml"
    path.write_text("allow_anonymous_read = true\n")
    assert WebConfig.load(env={"MODEL_REGISTRY_UI_CONFIG": str(path)}).allow_anonymous_read is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('auth_mode = "iap"\n', r"settings: auth_mode 'iap' needs an \[iap\] section"),
        ('auth_mode = "kerberos"\n', "auth_mode"),
        ("[email]\nhost = 'x'\nfrom_addr = 'a@b'\n[email.recipients]\nsomething = ['a@b']\n", "unknown event kinds"),
        ("[[webhooks]]\nurl = 'ftp://x'\n", "http://"),
        ("tokens = {short = 'alice'}\n", "at least 8"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ui.toml"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        WebConfig.load(path, env={})


@pytest.mark.parametrize(
    "content",
    [
        '{"json-token-123": "alice"}',
        'json-token-123 = "alice"\n',
        "# one token a line\njson-token-123 alice\n\n",
    ],
)
def test_tokens_files_in_each_format(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tokens"
    path.write_text(content)
    config = WebConfig(tokens_file=path, tokens={"inline-token-1": "bob"})
    assert config.all_tokens() == {"inline-token-1": "bob", "json-token-123": "alice"}


def test_a_webhook_without_a_secret_is_refused_at_start(tmp_path: Path) -> None:
    from registry_core.notifications.notifier import Notifier

    config = WebConfig(webhooks=[{"url": "http://127.0.0.1:9/hook", "secret_env": "NOT_SET_ANYWHERE"}])
    with pytest.raises(InvalidInputError, match="NOT_SET_ANYWHERE is not set"):
        Notifier(config)


def test_importing_the_library_and_cli_does_not_import_the_web_stack() -> None:
    code = "import sys, registry_core, registry_core.cli; print(sorted(m for m in ('fastapi', 'starlette', " \
           "'jinja2', 'uvicorn', 'jwt', 'registry_core.web.app') if m in sys.modules))"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_ui_command_serves_and_stops_cleanly(tmp_path: Path, registry: ModelRegistry) -> None:
    port = free_port()
    config = tmp_path / "ui.toml"
    config.write_text('tokens = {"cli-token-0001" = "alice"}\nallow_anonymous_read = true\n')
    log = tmp_path / "ui.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "registry_core", "--registry", str(registry.config.root), "ui", "--port", str(port),
             "--config", str(config)], stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        body = None
        deadline = time.monotonic() + 30
        while body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/models", timeout=2) as response:
                    body = json.loads(response.read())
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        assert [m["name"] for m in body] == ["eyewear"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/models", timeout=5) as response:
            assert b"eyewear" in response.read()
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(15)
    output = log.read_text()
    assert code == 0, output
    assert f"model registry UI on http://127.0.0.1:{port}" in output
