"""Where webhooks may connect: special addresses refused unless allowed, checked on the resolved address."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.background_server import BackgroundServer
from web_support import WebhookReceiver

from registry_core.notifications import destinations
from registry_core.notifications.destinations import RefusedDestinationError

LOCAL = [ip_network("127.0.0.0/8"), ip_network("::1/128")]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.stop()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),  # the cloud metadata server
        ("fe80::1", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),  # the same, written as IPv6
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("10.1.2.3", None),  # private networks are where internal hooks live
        ("192.168.1.20", None),
        ("203.0.113.9", None),
        ("2001:db8::1", None),
    ],
)
def test_special_addresses_are_refused_and_others_pass(address: str, kind: str | None) -> None:
    assert destinations.refusal(ip_address(address)) == kind


def test_allowed_networks_let_special_addresses_through() -> None:
    assert destinations.refusal(ip_address("127.0.0.1"), LOCAL) is None
    assert destinations.refusal(ip_address("::ffff:127.0.0.1"), LOCAL) is None
    assert destinations.refusal(ip_address("169.254.169.254"), LOCAL) == "link-local"


def test_a_literal_address_in_a_url_is_judged_and_a_name_is_left_for_delivery() -> None:
    assert destinations.literal_refusal("http://169.254.169.254/computeMetadata/v1/") == (
        "169.254.169.254 is a link-local address"
    )
    assert destinations.literal_refusal("http://[::1]:8080/hook") == "::1 is a loopback address"
    assert destinations.literal_refusal("http://localhost:8080/hook") is None
    assert destinations.literal_refusal("https://hooks.example.com/x") is None


def test_a_name_is_judged_by_the_addresses_it_resolves_to(receiver: WebhookReceiver) -> None:
    by_name = receiver.url.replace("127.0.0.1", "localhost")  # the URL itself shows nothing special
    with pytest.raises(RefusedDestinationError, match=r"127\.0\.0\.1 \(loopback\)"):
        destinations.post(by_name, b"{}", {}, timeout=5, allowed=[])
    assert receiver.attempts == 0
    assert destinations.post(by_name, b"{}", {}, timeout=5, allowed=LOCAL) == 204
    assert receiver.attempts == 1


def test_redirects_are_not_followed(receiver: WebhookReceiver) -> None:
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(307)
            self.send_header("Location", receiver.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with BackgroundServer(Redirect, name="redirect") as server:
        assert destinations.post(f"{server.url}/hook", b"{}", {}, timeout=5, allowed=LOCAL) == 307
    assert receiver.attempts == 0


def self_signed(folder: Path) -> tuple[Path, Path]:
    """Write a certificate for the name localhost and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_file, key_file


def test_https_deliveries_check_the_certificate_for_the_urls_name(
    receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, key_file = self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    server = receiver.background.server
    assert server is not None
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    url = receiver.url.replace("http://127.0.0.1", "https://localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        destinations.post(url, b"{}", {}, timeout=5, allowed=LOCAL)  # signed by no one this machine trusts
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # now it does
    assert destinations.post(url, b"{}", {}, timeout=5, allowed=LOCAL) == 204
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        destinations.post(receiver.url.replace("http://", "https://"), b"{}", {}, timeout=5, allowed=LOCAL)
