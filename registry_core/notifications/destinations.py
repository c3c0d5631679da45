"""Where webhooks may connect: loopback, link-local and other special addresses only if the config allows them.

A webhook URL names a host; what matters is the address a connection is made to. So the check runs inside the
connection, on each address the name resolves to at that moment, and only an address that passes is connected
to: a name that resolved to a public address yesterday and to 127.0.0.1 or 169.254.169.254 (the cloud metadata
server) today (DNS rebinding) gets nowhere. Deliveries connect directly (proxy variables do not apply) and do not
follow redirects, which would be a way around the check.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.parse
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

_THIS_NETWORK = IPv4Network("0.0.0.0/8")  # "this host on this network": Linux connects 0.0.0.0 to itself
_RESPONSE_READ_LIMIT = 64 * 1024  # a webhook's answer is not used; read a little so the connection ends cleanly


class RefusedDestinationError(Exception):
    """A webhook's host resolves only to addresses webhooks may not reach (a setting to fix, not worth retrying)."""


def refusal(address: Address, allowed: Sequence[Network] = ()) -> str | None:
    """Return what kind of address `address` is if webhooks may not connect to it, else None.

    Args:
        address: Where a connection would go.
        allowed: Networks allowed anyway (the `webhook_allowed_networks` setting).
    """
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        if any(address in network for network in allowed):
            return None
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in network for network in allowed):
        return None
    kinds = [
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_unspecified or (isinstance(address, IPv4Address) and address in _THIS_NETWORK), "unspecified"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
    ]
    return next((kind for matches, kind in kinds if matches), None)


def literal_refusal(url: str, allowed: Sequence[Network] = ()) -> str | None:
    """Return why `url` cannot be a webhook if its host is an IP address webhooks may not reach, else None.

    Host names are checked when they are used (they may resolve differently by then).
    """
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    kind = refusal(address, allowed)
    return f"{address} is a {kind} address" if kind else None


def connect(host: str, port: int, timeout: float, allowed: Sequence[Network]) -> socket.socket:
    """Return a socket connected to the first address of `host` that webhooks may reach.

    Raises:
        RefusedDestinationError: every address of `host` is one webhooks may not reach.
        OSError: the name does not resolve, or no allowed address accepts the connection.
    """
    refused: list[str] = []
    failure: OSError | None = None
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        why = refusal(address, allowed)
        if why is not None:
            refused.append(f"{address} ({why})")
            continue
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        return sock
    if failure is not None:
        raise failure
    msg = (
        f"{host} resolves to {', '.join(refused)}, which webhooks may not reach unless webhook_allowed_networks "
        "names them"
    )
    raise RefusedDestinationError(msg)


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection made only to addresses that pass `refusal`."""

    def __init__(self, host: str, port: int | None, *, timeout: float, allowed: Sequence[Network]) -> None:
        super().__init__(host, port, timeout=timeout)
        self.allowed = allowed
        self.timeout_seconds = timeout

    def connect(self) -> None:
        """Open the socket (no proxy tunnels: deliveries connect directly)."""
        self.sock = connect(self.host, self.port, self.timeout_seconds, self.allowed)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection made only to addresses that pass `refusal`; the certificate is checked for the name."""

    def __init__(self, host: str, port: int | None, *, timeout: float, allowed: Sequence[Network]) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.allowed = allowed
        self.timeout_seconds = timeout

    def connect(self) -> None:
        """Open the socket and start TLS for the URL's host name."""
        sock = connect(self.host, self.port, self.timeout_seconds, self.allowed)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allowed: Sequence[Network]) -> int:
    """POST `body` to `url` over a connection to an address webhooks may reach; return the HTTP status.

    Redirects are not followed (a 3xx is returned like any status).

    Raises:
        RefusedDestinationError: the host resolves only to addresses webhooks may not reach.
        OSError: resolving, connecting, sending or reading failed.
        http.client.HTTPException: the answer was not HTTP.
    """
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme == "https"
    kind = _CheckedHTTPSConnection if secure else _CheckedHTTPConnection
    port = parts.port or (443 if secure else 80)  # given, so that an IPv6 host is never read as host:port
    connection = kind(parts.hostname or "", port, timeout=timeout, allowed=allowed)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(_RESPONSE_READ_LIMIT)
        return response.status
    finally:
        connection.close()
