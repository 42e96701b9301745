"""The outbox in the database (analytics.alert_notifications): evaluate the rules, take the next
due notification under a row lock, record an attempt on it and on its alert. Each statement is
a few lines; the dispatcher decides the transactions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import psycopg
from psycopg.rows import class_row

from agent_analytics.alerts import targets
from agent_analytics.alerts.notification import Notification
from agent_analytics.alerts.senders import Outcome
from agent_analytics.alerts.settings import AlertSettings
from agent_analytics.errors import AgentAnalyticsError


class AlertsUnavailable(AgentAnalyticsError):
    """The database cannot evaluate or deliver alerts (not deployed, not built, no privilege)."""


@dataclass(frozen=True)
class Attempt:
    """What one attempt did: the notification's status after it ('pending' when it is retried)."""

    notification: Notification
    outcome: Outcome
    number: int
    status: Literal["pending", "sent", "failed"]
    error: str | None


def evaluate(conn: psycopg.Connection, at: datetime | None) -> int:
    """analytics.evaluate_alerts() at `at` (now when None): the number of rules that fired."""
    try:
        with conn.transaction():
            return conn.execute("select analytics.evaluate_alerts(coalesce(%s::timestamptz, now()))",
                                (at,)).fetchone()[0]
    except psycopg.errors.UndefinedFunction as error:
        raise AlertsUnavailable("analytics.evaluate_alerts() is missing: run `agent-analytics deploy` first") \
            from error
    except (psycopg.errors.ObjectNotInPrerequisiteState, psycopg.errors.InsufficientPrivilege) as error:
        raise AlertsUnavailable(error.diag.message_primary or str(error)) from error


CLAIM = """
select id, alert_id, workspace_id, event, channel, target, payload, attempts
from analytics.alert_notifications
where status = 'pending' and next_attempt_at <= now()
order by next_attempt_at
limit 1
for update skip locked
"""


def claim_due(conn: psycopg.Connection) -> Notification | None:
    """The next due notification, locked until the transaction ends, or None. Another
    dispatcher skips it (skip locked) instead of sending it too; a dispatcher that dies drops
    the lock with its connection, and the notification is due again."""
    try:
        with conn.cursor(row_factory=class_row(Notification)) as cursor:
            return cursor.execute(CLAIM).fetchone()
    except psycopg.errors.UndefinedTable as error:
        raise AlertsUnavailable("analytics.alert_notifications is missing: run `agent-analytics deploy` first") \
            from error


def webhook_secret(conn: psycopg.Connection, workspace_id: object) -> str:
    return conn.execute("select analytics.webhook_secret(%s)", (workspace_id,)).fetchone()[0]


def seconds_until_due(conn: psycopg.Connection) -> float | None:
    """Seconds until the earliest pending notification is due (0 or less: due now, perhaps held by
    another dispatcher), or None when nothing is pending."""
    row = conn.execute("select extract(epoch from min(next_attempt_at) - clock_timestamp())::float8 "
                       "from analytics.alert_notifications where status = 'pending'").fetchone()
    return row[0]


RECORD_NOTIFICATION = """
update analytics.alert_notifications
set
    status = %(status)s::text,
    attempts = attempts + 1,
    next_attempt_at = coalesce(clock_timestamp() + make_interval(secs => %(retry_seconds)s::float8), next_attempt_at),
    last_error = coalesce(%(error)s::text, last_error),  -- a sent one keeps what delayed it
    sent_at = case when %(status)s::text = 'sent' then clock_timestamp() else sent_at end
where id = %(id)s
"""

# The episode is pending while any of its notifications is, else failed if any failed.
RECORD_ALERT = """
update analytics.alert_history as h
set
    notifications_sent = coalesce(h.notifications_sent, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
        'notification_id', %(id)s::uuid, 'event', %(event)s::text, 'channel', %(channel)s::text,
        'target', %(target)s::text, 'status', %(attempt_status)s::text, 'attempt', %(number)s::integer,
        'at', clock_timestamp(), 'error', %(error)s::text
    )),
    notification_status = case
        when exists (
            select from analytics.alert_notifications as n where n.alert_id = h.id and n.status = 'pending'
        ) then 'pending'
        when exists (
            select from analytics.alert_notifications as n where n.alert_id = h.id and n.status = 'failed'
        ) then 'failed'
        else 'sent'
    end
where h.id = %(alert_id)s
"""


def record(conn: psycopg.Connection, notification: Notification, outcome: Outcome,
           settings: AlertSettings) -> Attempt:
    """Write one attempt, in the transaction that claimed the notification: its new status, and
    the attempt appended to its alert's notifications_sent."""
    number = notification.attempts + 1
    error = outcome.error
    retry_seconds = None
    if outcome.status == "sent":
        status = "sent"
    elif outcome.status == "retry" and number < settings.attempts:
        status, retry_seconds = "pending", settings.retry_delay(number)
    else:
        status = "failed"
        if outcome.status == "retry":
            error = f"{error} (gave up after {number} attempts)"
    # The alert's row first, so that the statement that sums up its notifications starts after
    # any other dispatcher's attempt on the same alert has committed (read committed).
    conn.execute("select from analytics.alert_history where id = %s for no key update", (notification.alert_id,))
    conn.execute(RECORD_NOTIFICATION, {"status": status, "retry_seconds": retry_seconds, "error": error,
                                       "id": notification.id})
    conn.execute(RECORD_ALERT, {
        "id": notification.id, "event": notification.event, "channel": notification.channel,
        "target": targets.redact(notification.channel, notification.target),
        "attempt_status": {"pending": "retrying"}.get(status, status), "number": number, "error": error,
        "alert_id": notification.alert_id,
    })
    return Attempt(notification, outcome, number, status, error)
