"""How alerts are delivered, from the environment: the SMTP server, the sender, whether private
webhook hosts are allowed, the retry schedule, the HTTP timeout and the link in messages."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from agent_analytics.errors import AgentAnalyticsError

SMTP_URL = "AGENT_ANALYTICS_SMTP_URL"
ALERT_FROM = "AGENT_ANALYTICS_ALERT_FROM"
ALLOW_PRIVATE_TARGETS = "AGENT_ANALYTICS_ALLOW_PRIVATE_TARGETS"
ATTEMPTS = "AGENT_ANALYTICS_ALERT_ATTEMPTS"
RETRY_SECONDS = "AGENT_ANALYTICS_ALERT_RETRY_SECONDS"
RETRY_MAX_SECONDS = "AGENT_ANALYTICS_ALERT_RETRY_MAX_SECONDS"
TIMEOUT_SECONDS = "AGENT_ANALYTICS_ALERT_TIMEOUT_SECONDS"
PUBLIC_URL = "AGENT_ANALYTICS_PUBLIC_URL"


class AlertSettingsError(AgentAnalyticsError):
    """An alert setting in the environment has a value we cannot use; the message names it."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class AlertSettings:
    smtp: SmtpServer | None = None
    sender: str = "agent-analytics@localhost"
    allow_private_targets: bool = False
    attempts: int = 5
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    timeout_seconds: float = 10.0
    public_url: str = "http://127.0.0.1:8050"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AlertSettings:
        environ = os.environ if environ is None else environ
        defaults = cls()
        smtp_url = environ.get(SMTP_URL, "").strip()
        settings = cls(
            smtp=parse_smtp_url(smtp_url) if smtp_url else None,
            sender=_sender(environ.get(ALERT_FROM, "").strip() or defaults.sender),
            allow_private_targets=_flag(environ, ALLOW_PRIVATE_TARGETS),
            attempts=int(_number(environ, ATTEMPTS, defaults.attempts, whole=True, least=1)),
            retry_base_seconds=_number(environ, RETRY_SECONDS, defaults.retry_base_seconds),
            retry_max_seconds=_number(environ, RETRY_MAX_SECONDS, defaults.retry_max_seconds),
            timeout_seconds=_number(environ, TIMEOUT_SECONDS, defaults.timeout_seconds, least=0.001),
            public_url=_public_url(environ.get(PUBLIC_URL, "").strip() or defaults.public_url),
        )
        return settings

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1, 2, ...): doubled each time,
        capped so that a long outage is still retried at a steady pace."""
        return min(self.retry_base_seconds * 2 ** (attempt - 1), self.retry_max_seconds)

    def alert_link(self, alert_id: object) -> str:
        return f"{self.public_url}/alerts/{alert_id}"


def parse_smtp_url(url: str) -> SmtpServer:
    """smtp://[user[:password]@]host[:port] (STARTTLS when the server offers it), or smtps://
    for TLS from the first byte; user and password percent-encoded."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise AlertSettingsError(
            f"{SMTP_URL} must look like smtp://[user[:password]@]host[:port] or smtps://..., "
            f"not a {parts.scheme or 'scheme-less'} URL")
    try:
        port = parts.port
    except ValueError as error:
        raise AlertSettingsError(f"{SMTP_URL} has a port that is not a number from 1 to 65535") from error
    if not parts.hostname:
        raise AlertSettingsError(f"{SMTP_URL} names no host: use smtp://host[:port]")
    implicit_tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in {"", "0", "false", "no", "off"}:
        return False
    if value in {"1", "true", "yes", "on"}:
        return True
    raise AlertSettingsError(f"{name} must be 1 or 0, not {value!r}")


def _number(environ: Mapping[str, str], name: str, default: float, *, whole: bool = False,
            least: float = 0) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = None
    if value is None or value != value or value in (float("inf"),) or value < least:
        kind = "a whole number" if whole else "a number of seconds"
        raise AlertSettingsError(f"{name} must be {kind} of at least {least:g}, not {text!r}")
    return value


def _sender(address: str) -> str:
    if address.count("@") != 1 or any(character in address for character in "\r\n<>,;\" "):
        raise AlertSettingsError(f"{ALERT_FROM} must be one email address such as alerts@example.com, "
                                 f"not {address!r}")
    return address


def _public_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise AlertSettingsError(f"{PUBLIC_URL} must be an http(s) URL such as https://analytics.example.com, "
                                 f"not {url!r}")
    return url.rstrip("/")
