"""Sending one notification, once: a webhook or Slack POST with httpx, an email with smtplib.
The outcome says whether it arrived, may arrive if tried again (timeouts, refused connections,
HTTP 5xx and 429, SMTP 4xx), or never will (other HTTP 4xx, a refused target, SMTP 5xx, no
SMTP server configured). Errors name the target without its secrets."""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpcore
import httpx

from agent_analytics.alerts import messages, targets
from agent_analytics.alerts.notification import Notification
from agent_analytics.alerts.settings import AlertSettings

SIGNATURE_HEADER = "X-Analytics-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Outcome:
    status: Literal["sent", "retry", "failed"]
    error: str | None = None


SENT = Outcome("sent")


def sign(secret: str, body: bytes) -> str:
    """The X-Analytics-Signature value: HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Sender:
    """Sends notifications with one HTTP client (its connections are reused) and the settings;
    `secret_for` gives a workspace's webhook signing key."""

    def __init__(self, settings: AlertSettings, secret_for: Callable[[object], str]) -> None:
        self.settings = settings
        self.secret_for = secret_for
        # Our own transport: every connection goes through the SSRF check, no proxy from the
        # environment stands in between, and redirects are never followed (httpx's default).
        transport = httpx.HTTPTransport(trust_env=False)
        transport._pool = httpx_pool(settings)  # noqa: SLF001 (httpx has no public hook for this)
        self.client = httpx.Client(transport=transport, timeout=settings.timeout_seconds, follow_redirects=False,
                                   trust_env=False,
                                   headers={"User-Agent": f"agent-analytics-alerts/{_version()}"})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, notification: Notification) -> Outcome:
        if notification.channel == "email":
            return self.send_email(notification)
        if notification.channel == "slack":
            return self.post(notification, messages.slack_body(notification, self.settings), {})
        body = messages.webhook_body(notification, self.settings)
        return self.post(notification, body,
                         {SIGNATURE_HEADER: sign(self.secret_for(notification.workspace_id), body)})

    def post(self, notification: Notification, body: bytes, headers: dict[str, str]) -> Outcome:
        shown = targets.redact(notification.channel, notification.target)
        try:
            targets.check_url(notification.target)
            response = self.client.post(notification.target, content=body, headers={
                "Content-Type": "application/json", IDEMPOTENCY_HEADER: str(notification.id), **headers})
        except targets.TargetRefused as error:
            return Outcome("failed", f"refused {shown}: {error}")
        except httpx.TimeoutException:
            return Outcome("retry", f"no answer from {shown} within {self.settings.timeout_seconds:g} s")
        except httpx.TransportError as error:
            return Outcome("retry", f"cannot reach {shown}: {error or type(error).__name__}")
        code = response.status_code
        if 200 <= code < 300:
            return SENT
        error = f"HTTP {code} from {shown}"
        if 300 <= code < 400:
            return Outcome("failed", f"{error}: redirects are not followed, use the final URL")
        if code == 429 or code >= 500:
            return Outcome("retry", error)
        return Outcome("failed", error)

    def send_email(self, notification: Notification) -> Outcome:
        server = self.settings.smtp
        if server is None:
            return Outcome("failed", "no SMTP server: set AGENT_ANALYTICS_SMTP_URL to send email")
        message = messages.email_message(notification, self.settings)
        timeout = self.settings.timeout_seconds
        try:
            if server.implicit_tls:
                smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
            with smtp:
                smtp.ehlo()
                if not server.implicit_tls and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if server.username:
                    smtp.login(server.username, server.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            return _smtp_outcome(min(codes) if codes else 550, f"{notification.target} refused")
        except smtplib.SMTPResponseException as error:
            reply = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) \
                else str(error.smtp_error)
            return _smtp_outcome(error.smtp_code, reply)
        except smtplib.SMTPNotSupportedError as error:
            return Outcome("failed", f"SMTP {server.host}:{server.port}: {error}")
        except (smtplib.SMTPException, OSError) as error:
            return Outcome("retry", f"SMTP {server.host}:{server.port}: {error or type(error).__name__}")
        return SENT


def _smtp_outcome(code: int, reply: str) -> Outcome:
    text = f"SMTP {code}: {reply}"
    return Outcome("retry" if 400 <= code < 500 else "failed", text)


def httpx_pool(settings: AlertSettings) -> httpcore.ConnectionPool:
    # the CA bundle httpx itself would use (certifi), not whatever the machine has
    return httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        network_backend=targets.GuardedBackend(settings.allow_private_targets),
    )


def _version() -> str:
    try:
        return importlib.metadata.version("agent-analytics")
    except importlib.metadata.PackageNotFoundError:
        return "dev"
