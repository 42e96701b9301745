"""Deliver what evaluate_alerts queued: one transaction per notification, holding its row lock
while it is sent, so two dispatchers never send the same one; a dispatcher that dies between
sending and committing leaves it pending, and it is sent again with the same idempotency key
(at least once, never lost)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from agent_analytics import db
from agent_analytics.alerts import outbox, targets
from agent_analytics.alerts.senders import Sender
from agent_analytics.alerts.settings import AlertSettings

Report = Callable[[str], None]
# How often a dispatcher looks again for a notification that is due but held by another one.
POLL_SECONDS = 0.2


@dataclass
class RunSummary:
    fired: int = 0
    attempts: list[outbox.Attempt] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for attempt in self.attempts if attempt.status == status)


def deliver_one(conn: psycopg.Connection, sender: Sender, settings: AlertSettings) -> outbox.Attempt | None:
    """Send the next due notification and record the attempt, in one transaction; None when
    nothing is due (or all that is due is held by other dispatchers)."""
    with conn.transaction():
        notification = outbox.claim_due(conn)
        if notification is None:
            return None
        return outbox.record(conn, notification, sender.send(notification), settings)


def deliver_due(conn: psycopg.Connection, sender: Sender, settings: AlertSettings, report: Report,
                summary: RunSummary, wait_for_retries: bool, stop: threading.Event | None = None) -> None:
    """Deliver until nothing is due. With wait_for_retries, also wait for the retries that come due
    within the longest backoff (what a run itself scheduled), so that each notification it
    started ends sent or failed."""
    while not (stop and stop.is_set()):
        attempt = deliver_one(conn, sender, settings)
        if attempt is not None:
            summary.attempts.append(attempt)
            report(describe(attempt))
            continue
        if not wait_for_retries:
            return
        wait = outbox.seconds_until_due(conn)
        if wait is None or wait > settings.retry_max_seconds:
            return
        _sleep(max(wait, POLL_SECONDS), stop)


def run_once(target: db.Connection, settings: AlertSettings, at: datetime | None = None,
             report: Report = lambda line: None) -> RunSummary:
    """Evaluate every rule once (at `at`, default now), then deliver until nothing is left to do."""
    summary = RunSummary()
    with db.connect(target) as conn, Sender(settings, lambda workspace: outbox.webhook_secret(conn, workspace)) \
            as sender:
        summary.fired = outbox.evaluate(conn, at)
        report(f"evaluated the alert rules: {summary.fired} fired")
        deliver_due(conn, sender, settings, report, summary, wait_for_retries=True)
    report(f"delivered: {summary.count('sent')} sent, {summary.count('failed')} failed, "
           f"{summary.count('pending')} to retry")
    return summary


def run_forever(target: db.Connection, settings: AlertSettings, interval: float = 60.0,
                report: Report = lambda line: None, stop: threading.Event | None = None) -> RunSummary:
    """Evaluate every `interval` seconds and deliver what comes due in between, until SIGTERM or
    SIGINT (or `stop`): the notification being sent is finished and recorded first."""
    stop = stop or threading.Event()
    summary = RunSummary()
    restore = _stop_on_signals(stop)
    lost = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                _serve(target, settings, interval, report, stop, summary)
            except (psycopg.OperationalError, db.DatabaseUnavailable) as error:
                # A restarted server or a dropped connection: what was being sent is still
                # pending in the database (its transaction never committed), so reconnecting
                # loses nothing; waits double up to a minute while the server stays away.
                lost = 1 if time.monotonic() - started > 60 else lost + 1
                wait = min(60.0, 2.0 ** lost)
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                report(f"lost the database ({reason}); connecting again in {wait:.0f} s")
                _sleep(wait, stop)
    finally:
        restore()
    report("stopped")
    return summary


def _serve(target: db.Connection, settings: AlertSettings, interval: float, report: Report,
           stop: threading.Event, summary: RunSummary) -> None:
    """run_forever on one connection, until `stop` (returns) or the connection fails (raises)."""
    with db.connect(target) as conn, Sender(settings, lambda workspace: outbox.webhook_secret(conn, workspace)) \
            as sender:
        next_evaluation = time.monotonic()
        while not stop.is_set():
            if time.monotonic() >= next_evaluation:
                fired = outbox.evaluate(conn, None)
                summary.fired += fired
                if fired:
                    report(f"evaluated the alert rules: {fired} fired")
                next_evaluation = time.monotonic() + interval
            deliver_due(conn, sender, settings, report, summary, wait_for_retries=False, stop=stop)
            due = outbox.seconds_until_due(conn)
            until_evaluation = next_evaluation - time.monotonic()
            _sleep(until_evaluation if due is None else max(min(due, until_evaluation), POLL_SECONDS), stop)


def describe(attempt: outbox.Attempt) -> str:
    notification = attempt.notification
    shown = targets.redact(notification.channel, notification.target)
    what = f"{notification.event} {notification.channel} to {shown} ({notification.rule_name}), attempt {attempt.number}"
    if attempt.status == "sent":
        return f"sent {what}"
    if attempt.status == "pending":
        return f"will retry {what}: {attempt.error}"
    return f"failed {what}: {attempt.error}"


def _sleep(seconds: float, stop: threading.Event | None) -> None:
    if seconds <= 0:
        return
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set `stop` instead of interrupting a send; returns what puts the previous
    handlers back. Outside the main thread (tests) signals cannot be handled: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    for number in previous:
        signal.signal(number, lambda _signum, _frame: stop.set())

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore
