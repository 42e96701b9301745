"""What each step of the schedule does, on the worker's connection; the worker records how it
ended (worker.run_step)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql

from agent_analytics.alerts import dispatcher, outbox
from agent_analytics.alerts.senders import Sender
from agent_analytics.alerts.settings import AlertSettings
from agent_analytics.errors import AgentAnalyticsError
from agent_analytics.pg_cron import JobDefinition
from agent_analytics.worker import health
from agent_analytics.worker.dbt_build import InProcessDbt
from agent_analytics.worker.health import NodeResult

Report = Callable[[str], None]


class StepFailed(AgentAnalyticsError):
    """A step ran and did not succeed (a failed build, say); the message says why. Its nodes,
    when it has any, are recorded with it."""

    def __init__(self, message: str, nodes: Sequence[NodeResult] = ()) -> None:
        super().__init__(message)
        self.nodes = nodes


@dataclass(frozen=True)
class StepOutcome:
    rows_written: int | None = None
    neutralized_events: int | None = None
    nodes: Sequence[NodeResult] = field(default_factory=tuple)
    summary: str = ""


def run_job(conn: psycopg.Connection, job: JobDefinition) -> None:
    """One of the in-database jobs as pg_cron would run it (macros/deploy/pg_cron_jobs.sql): the
    same statement, so the worker and pg_cron cannot drift apart."""
    with conn.transaction():
        conn.execute(job.command)


def partitions(conn: psycopg.Connection, job: JobDefinition) -> StepOutcome:
    """The event partitions from the late-event lookback to the days ahead, as each build's hook
    keeps them: made here too, so that a stopped build does not leave the app without
    tomorrow's partition."""
    run_job(conn, job)
    return StepOutcome(summary="partitions from the lookback to the days ahead are in place")


def live(conn: psycopg.Connection, job: JobDefinition) -> StepOutcome:
    """The live snapshot taken again: what the live functions answer while it is at most a minute
    old (docs/live-metrics.md, "The snapshot")."""
    with conn.transaction():
        written = conn.execute(job.command).fetchone()[0]
    return StepOutcome(rows_written=written, summary=f"the live snapshot taken again: {written} rows")


def retention(conn: psycopg.Connection, job: JobDefinition) -> StepOutcome:
    run_job(conn, job)
    pruned = health.prune(conn)
    return StepOutcome(rows_written=pruned, summary=f"old data removed; {pruned} old pipeline runs pruned")


def alerts(conn: psycopg.Connection, settings: AlertSettings, report: Report) -> StepOutcome:
    """Evaluate every rule once, then deliver what is due (retries that are not yet due wait for
    a later pass)."""
    summary = dispatcher.RunSummary()
    with Sender(settings, lambda workspace: outbox.webhook_secret(conn, workspace)) as sender:
        summary.fired = outbox.evaluate(conn, None)
        dispatcher.deliver_due(conn, sender, settings, report, summary, wait_for_retries=False)
    failed = summary.count("failed")
    return StepOutcome(
        rows_written=len(summary.attempts),
        summary=f"{summary.fired} rules fired; {summary.count('sent')} sent, {failed} failed, "
                f"{summary.count('pending')} to retry",
    )


def build(conn: psycopg.Connection, runner: InProcessDbt, build_role: str) -> StepOutcome:
    """The scheduled dbt build; how many of the events it took in staging neutralized."""
    before = _taken_in_until(conn)
    result = runner.build()
    if not result.succeeded:
        raise StepFailed(f"the build failed: {result.error}", result.nodes)
    neutralized = _neutralized_since(conn, before, build_role)
    models = sum(1 for node in result.nodes if node.resource_type == "model")
    return StepOutcome(
        rows_written=result.rows_written, neutralized_events=neutralized, nodes=result.nodes,
        summary=f"{models} models, {result.rows_written} rows written, {neutralized or 0} events neutralized",
    )


def _neutralized_since(conn: psycopg.Connection, before: datetime | None, build_role: str) -> int | None:
    """The events this build took in that staging neutralized; None when that cannot be read,
    which does not make a build that succeeded a failure."""
    try:
        after = _taken_in_until(conn)
        if after is None:
            return None
        with conn.transaction():
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(build_role)))
            return conn.execute(
                "select count(*) from analytics_internal.stg_analytics__neutralized_values "
                "where ingested_at >= coalesce(%s, '-infinity'::timestamptz) and ingested_at < %s",
                (before, after),
            ).fetchone()[0]
    except psycopg.Error:
        if conn.broken or conn.closed:
            raise
        return None


def _taken_in_until(conn: psycopg.Connection) -> datetime | None:
    """Up to when every model has taken rows in (the least advanced watermark)."""
    with conn.transaction():
        return conn.execute("select taken_in_until from analytics_internal.build_taken_in").fetchone()[0]
