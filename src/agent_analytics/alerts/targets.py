"""Where a notification may go. A webhook URL is the app's users' input, so a rule could point
the dispatcher at the machine it runs on, the cloud's metadata service (169.254.169.254) or
the private network behind it (SSRF). Every address a host resolves to must be global, checked
when the connection is made, to the address that was checked (a second lookup could answer
differently: DNS rebinding). And what is recorded of a target leaves its secrets out: Slack and
many webhook URLs carry their credential in the path."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore

from agent_analytics.errors import AgentAnalyticsError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]


class TargetRefused(AgentAnalyticsError):
    """A notification target we will not connect to; the message says why (without the secret)."""


def is_public(address: Address) -> bool:
    """True for an address on the public internet; False for private, loopback, link-local
    (the metadata service), shared (CGNAT), reserved, multicast and unspecified ones, and for
    IPv6 forms that carry such an IPv4 address (mapped, 6to4, Teredo, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
        if address.is_site_local:  # deprecated, yet still routed inside some networks
            return False
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_url(url: str) -> None:
    """An http(s) URL with a host, else TargetRefused."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"}:
        raise TargetRefused(f"only http and https targets are allowed, not {parts.scheme or 'no scheme'}")
    if not parts.hostname:
        raise TargetRefused("the target URL names no host")


def resolve_public(host: str, port: int, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> list[str]:
    """The addresses of `host` to connect to: all of them must be public unless private targets are
    allowed, so that a name with one public and one private address cannot slip through."""
    try:
        found = resolver(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"cannot resolve {host}: {error}") from error
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in found))
    if not addresses:
        raise TargetRefused(f"{host} resolves to no address")
    if not allow_private:
        for text in addresses:
            if not is_public(ipaddress.ip_address(text)):
                raise TargetRefused(
                    f"{host} resolves to {text}, which is not a public address (private, loopback, link-local "
                    f"or reserved); set AGENT_ANALYTICS_ALLOW_PRIVATE_TARGETS=1 to allow it")
    return addresses


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, connecting only to addresses resolve_public allows: the
    check and the connection use the same lookup."""

    def __init__(self, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> None:
        self.allow_private = allow_private
        self.resolver = resolver

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in resolve_public(host, port, self.allow_private, self.resolver):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                last_error = error
        assert last_error is not None
        raise last_error


def redact(channel: str, target: str) -> str:
    """The target as records may show it: an email address as it is; a URL as
    scheme://host[:port]/… without credentials, path or query (where Slack and most webhook
    providers keep the secret)."""
    if channel == "email":
        return target
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError:
        return "(unreadable URL)"
    if not parts.hostname:
        return "(URL without a host)"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme.lower()}://{host}{f':{port}' if port else ''}/…"
