"""The pipeline's health in the database: each step the worker runs is recorded in
analytics.pipeline_runs (and a build's nodes in pipeline_model_runs) when it starts and when it
ends; analytics.pipeline_status and analytics.pipeline_lag read them back for operators,
`agent-analytics status` and the alert catalogue's pipeline metrics."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import psycopg

from agent_analytics.errors import AgentAnalyticsError

# What an error message may hold in the table (its check constraint).
ERROR_LENGTH = 4000
# Runs older than this are deleted by the retention step.
KEEP_RUNS = timedelta(days=30)


class HealthUnavailable(AgentAnalyticsError):
    """The pipeline tables are missing: the database was deployed by an older version."""


@dataclass(frozen=True)
class NodeResult:
    """One model, seed, snapshot or data test of a build, as dbt reported it."""

    name: str
    resource_type: str
    outcome: str
    started_at: datetime | None
    ended_at: datetime | None
    rows_written: int | None
    message: str | None


@dataclass(frozen=True)
class StepStatus:
    step: str
    worker: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    rows_written: int | None
    neutralized_events: int | None
    error: str | None
    next_run_at: datetime | None
    last_succeeded_at: datetime | None
    failures_in_a_row: int


@dataclass(frozen=True)
class DataLag:
    """How far behind the rollups are: the oldest event and run change no build has taken in."""

    taken_in_until: datetime | None
    last_built_at: datetime | None
    oldest_pending_event_at: datetime | None
    oldest_pending_run_at: datetime | None
    seconds: float


@dataclass(frozen=True)
class PipelineHealth:
    steps: Sequence[StepStatus]
    models: Sequence[NodeResult]
    lag: DataLag

    def as_json(self) -> str:
        def plain(value: object) -> object:
            return value.isoformat() if isinstance(value, datetime) else value

        document = {
            "data_lag_seconds": self.lag.seconds,
            "lag": {key: plain(value) for key, value in asdict(self.lag).items()},
            "steps": {status.step: {key: plain(value) for key, value in asdict(status).items() if key != "step"}
                      for status in self.steps},
            "last_build_models": [{key: plain(value) for key, value in asdict(node).items()} for node in self.models],
        }
        return json.dumps(document, indent=2)


def is_deployed(conn: psycopg.Connection) -> bool:
    """Whether the database has the pipeline tables (not when never deployed, or by an older version)."""
    return conn.execute("select to_regclass('analytics.pipeline_runs') is not null").fetchone()[0]


def require_deployed(conn: psycopg.Connection) -> None:
    """Stop before any step when the database has no pipeline tables: the steps would fail one
    by one on what is missing."""
    if not is_deployed(conn):
        raise HealthUnavailable("this database has no analytics.pipeline_runs: run `agent-analytics deploy` as the "
                                "database owner to bring it to this version, then start the worker again")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def started(conn: psycopg.Connection, step: str, worker: str) -> int:
    """Record that `step` starts now; its id. A step the deployed schema does not know (a worker
    newer than the deploy) is named, with the fix, instead of failing on the table's check."""
    try:
        with conn.transaction():
            return conn.execute(
                "insert into analytics.pipeline_runs (step, worker) values (%s, %s) returning id", (step, worker)
            ).fetchone()[0]
    except psycopg.errors.CheckViolation as error:
        raise HealthUnavailable(
            f"the deployed schema does not know the worker's step {step!r} (it is older than this worker): run "
            "`agent-analytics deploy` as the database owner to bring it to this version, then start the worker again"
        ) from error


def ended(conn: psycopg.Connection, run_id: int, outcome: str, *, rows_written: int | None = None,
          neutralized_events: int | None = None, error: str | None = None, next_run_at: datetime | None = None,
          nodes: Sequence[NodeResult] = ()) -> None:
    """Record how the run ended, and a build's nodes."""
    with conn.transaction():
        conn.execute(
            "update analytics.pipeline_runs set ended_at = clock_timestamp(), outcome = %s, rows_written = %s, "
            "neutralized_events = %s, error = %s, next_run_at = %s where id = %s",
            (outcome, rows_written, neutralized_events, _clip(error), next_run_at, run_id),
        )
        if nodes:
            with conn.cursor() as cursor:
                cursor.executemany(
                    "insert into analytics.pipeline_model_runs (pipeline_run_id, model_name, resource_type, "
                    "started_at, ended_at, outcome, rows_written, message) values (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "on conflict (pipeline_run_id, model_name) do nothing",
                    [(run_id, node.name, node.resource_type, node.started_at, node.ended_at, node.outcome,
                      node.rows_written, _clip(node.message)) for node in nodes],
                )


def abandon_orphans(conn: psycopg.Connection, step: str) -> int:
    """Runs of `step` still marked running while this worker holds the step's lock belong to a
    worker that died: they are marked abandoned."""
    with conn.transaction():
        return conn.execute(
            "update analytics.pipeline_runs set outcome = 'abandoned', ended_at = clock_timestamp(), "
            "error = coalesce(error, 'the worker stopped before the step ended') "
            "where step = %s and outcome = 'running'", (step,),
        ).rowcount


def prune(conn: psycopg.Connection, keep: timedelta = KEEP_RUNS) -> int:
    with conn.transaction():
        return conn.execute("delete from analytics.pipeline_runs where started_at < now() - %s", (keep,)).rowcount


def read(conn: psycopg.Connection) -> PipelineHealth:
    """Every step's last run, the last build's nodes, and the data lag."""
    try:
        steps = [StepStatus(*row) for row in conn.execute(
            "select step, worker, started_at, ended_at, outcome, rows_written, neutralized_events, error, "
            "next_run_at, last_succeeded_at, failures_in_a_row from analytics.pipeline_status order by step"
        ).fetchall()]
        models = [NodeResult(*row) for row in conn.execute(
            "select m.model_name, m.resource_type, m.outcome, m.started_at, m.ended_at, m.rows_written, m.message "
            "from analytics.pipeline_model_runs as m "
            "where m.pipeline_run_id = (select last_run_id from analytics.pipeline_status where step = 'build') "
            "order by m.started_at nulls last, m.model_name"
        ).fetchall()]
        lag_row = conn.execute(
            "select taken_in_until, last_built_at, oldest_pending_event_at, oldest_pending_run_at, lag_seconds "
            "from analytics.pipeline_lag"
        ).fetchone()
    except psycopg.errors.UndefinedTable as error:
        raise HealthUnavailable("the pipeline tables are missing (analytics.pipeline_runs): run "
                                "`agent-analytics deploy` to bring the database to this version") from error
    lag = DataLag(*lag_row[:4], seconds=float(lag_row[4] or 0))
    return PipelineHealth(steps=steps, models=models, lag=lag)


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= ERROR_LENGTH else text[:ERROR_LENGTH - 1] + "…"
