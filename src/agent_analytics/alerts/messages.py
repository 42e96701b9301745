"""The body of each channel's message: webhook JSON, a Slack Block Kit message, an email with
plain-text and HTML parts. What the user wrote (a rule's name, a workspace's name) is escaped
for the format it goes into."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from agent_analytics.alerts.notification import Notification
from agent_analytics.alerts.settings import AlertSettings

SLACK_HEADER_LIMIT = 150  # characters of a Block Kit header


def webhook_body(notification: Notification, settings: AlertSettings) -> bytes:
    """The payload evaluate_alerts wrote, plus the idempotency key and the link: these exact bytes
    are signed, so they are made once and sent as they are."""
    body = {**notification.payload, "idempotency_key": str(notification.id),
            "link": settings.alert_link(notification.alert_id)}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def slack_body(notification: Notification, settings: AlertSettings) -> bytes:
    """An incoming-webhook message: a header, the figures as section fields, a button to the
    alert, and `text` for notifications and clients that show no blocks."""
    payload = notification.payload
    emoji = ":white_check_mark:" if notification.event == "resolved" else ":rotating_light:"
    state = "Resolved" if notification.event == "resolved" else "Firing"
    fields = [
        ("Metric", f"{notification.metric} ({payload.get('metric_description') or ''})".replace(" ()", "")),
        ("Value", notification.value_text()),
        ("Threshold", notification.threshold_text()),
        ("Workspace", notification.workspace),
        ("Since", _when(payload.get("since"))),
        ("Window", f"{payload.get('window_minutes')} minutes"),
    ]
    if notification.event == "resolved":
        fields.append(("Resolved", _when(payload.get("resolved_at") or payload.get("evaluated_at"))))
    message: dict[str, Any] = {
        "text": notification.headline(),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                        "text": f"{emoji} {state}: {notification.rule_name}"[:SLACK_HEADER_LIMIT]}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(text)}"} for label, text in fields
            ]},
            {"type": "actions", "elements": [{
                "type": "button", "text": {"type": "plain_text", "text": "Open the alert"},
                "url": settings.alert_link(notification.alert_id),
            }]},
        ],
    }
    return json.dumps(message).encode()


def email_message(notification: Notification, settings: AlertSettings) -> EmailMessage:
    payload = notification.payload
    link = settings.alert_link(notification.alert_id)
    rows = [
        ("Rule", notification.rule_name),
        ("Metric", f"{notification.metric}: {payload.get('metric_description') or ''}".rstrip(": ")),
        ("Value", notification.value_text()),
        ("Threshold", notification.threshold_text()),
        ("Window", f"{payload.get('window_minutes')} minutes"),
        ("Workspace", notification.workspace),
        ("Since", _when(payload.get("since"))),
    ]
    if notification.event == "resolved":
        rows.append(("Resolved", _when(payload.get("resolved_at") or payload.get("evaluated_at"))))
    message = EmailMessage()
    message["Subject"] = notification.headline()
    message["From"] = settings.sender
    message["To"] = notification.target
    message["Date"] = format_datetime(datetime.now(UTC))
    # The same id at every attempt: a mail client shows a message delivered twice once.
    message["Message-ID"] = f"<{notification.id}@{settings.sender.rsplit('@', 1)[1]}>"
    message.set_content("\n".join([notification.headline(), ""] + [f"{label}: {text}" for label, text in rows]
                                  + ["", f"Open the alert: {link}", ""]))
    table = "".join(f"<tr><th align=\"left\">{html.escape(label)}</th><td>{html.escape(text)}</td></tr>"
                    for label, text in rows)
    message.add_alternative(
        f"<!doctype html><html><body><h2>{html.escape(notification.headline())}</h2>"
        f"<table>{table}</table><p><a href=\"{html.escape(link, quote=True)}\">Open the alert</a></p>"
        "</body></html>",
        subtype="html",
    )
    return message


def _when(value: Any) -> str:
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value)


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn reads <...> as links and mentions (<!channel>): only these three are escaped
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
