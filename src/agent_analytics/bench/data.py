"""The database a benchmark run measures: the scale's data generated into a database of its own
(aa_bench_<label>), or, with --keep, kept from an earlier run and copied; dropped afterwards."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from agent_analytics import db, generate
from agent_analytics.bench.options import BenchError, BenchOptions
from agent_analytics.bench.results import DataSet, from_json, to_json
from agent_analytics.progress import Progress

# The schemas whose tables, indexes and plans a run reports.
MEASURED_SCHEMAS = ("analytics", "analytics_internal", "naive", "public")
# Reusing kept data is only right while "now" is close to where the data was meant to end.
REUSE_WITHIN = timedelta(hours=24)
STATE_PREFIX = "agent-analytics bench data: "


@dataclass(frozen=True)
class RunDatabase:
    """The database one run measures, the data it started from, and where dbt writes its artifacts."""

    target: db.Connection
    data: DataSet
    target_path: Path

    def connect(self) -> psycopg.Connection:
        return db.connect(self.target)


@contextmanager
def run_database(server: db.Server, options: BenchOptions, progress: Progress) -> Iterator[RunDatabase]:
    """The data database (generated or reused), the run's database (a copy when the data is
    kept), and the cleanup afterwards, whatever happens."""
    admin = server.admin
    data_name = f"aa_bench_{options.label.replace('-', '_')}"
    run_name = f"{data_name}_run_{os.getpid()}"
    data = _prepare_data(server, data_name, options, progress)
    if options.keep:
        clone_database(server, data_name, run_name)
        progress("copy of the kept data", 1, 1, 0)
    target = server.project.with_database(run_name if options.keep else data_name)
    try:
        with tempfile.TemporaryDirectory(prefix="aa-bench-dbt-") as target_path:
            yield RunDatabase(target, data, Path(target_path))
    finally:
        db.drop_database(admin, run_name if options.keep else data_name)


def seed_alerts(bench: RunDatabase) -> None:
    """Alert rules and their history (sql/bench_alerts.sql), which the dashboard queries read."""
    text = resources.files("agent_analytics").joinpath("sql", "bench_alerts.sql").read_text(encoding="utf-8")
    with bench.connect() as conn, conn.transaction():
        conn.execute(text)
    with bench.connect() as conn:
        conn.execute("analyze analytics.alert_rules")
        conn.execute("analyze analytics.alert_history")


def _prepare_data(server: db.Server, name: str, options: BenchOptions, progress: Progress) -> DataSet:
    """Generated data ending where the appends will bring it to now; kept data when it fits."""
    admin = server.admin
    appended_hours = options.appended / timedelta(hours=1)
    # Two days more than the history, so that the retention has whole days to drop.
    days = options.history_days + 2
    kept = _kept_data(admin, name)
    if kept and (kept.scale, kept.seed, kept.appended_hours, kept.days) == (
            options.scale_name, options.seed, appended_hours, days):
        planned_end = datetime.fromisoformat(kept.data_end) + options.appended
        if abs(datetime.now(UTC) - planned_end) <= REUSE_WITHIN:
            progress("kept data reused", 1, 1, kept.events)
            return dataclasses.replace(kept, reused=True)
    db.drop_database(admin, name)
    end = datetime.now(UTC).replace(microsecond=0) - options.appended
    generate_options = generate.GenerateOptions(scale=options.scale, seed=options.seed, end=end, days=days)
    _, counts = generate.demo_database(server, name, generate_options, progress)
    data = DataSet(
        scale=options.scale_name, seed=options.seed, appended_hours=appended_hours, days=days,
        data_start=generate_options.start.isoformat(timespec="seconds"), data_end=end.isoformat(timespec="seconds"),
        workspaces=counts.workspaces, users=counts.users, memberships=counts.memberships, agents=counts.agents,
        runs=counts.runs, events=counts.events, generated_seconds=round(counts.seconds, 1),
    )
    with db.connect(admin) as conn:
        db.write_note(conn, "database", name, STATE_PREFIX, to_json(data))
    return data


def _kept_data(admin: db.Connection, name: str) -> DataSet | None:
    with db.connect(admin) as conn:
        state = db.read_note(conn, "database", name, STATE_PREFIX)
    return None if state is None else from_json(DataSet, state)


def clone_database(server: db.Server, source: str, name: str) -> None:
    """A file copy of the kept database, owned like the original by the project's user (the
    admin makes it; the naive baseline creates a schema in it as the project's user).
    Autovacuum may still be in the original for a moment."""
    admin = server.admin
    db.drop_database(admin, name)
    statement = sql.SQL("create database {} owner {} template {} strategy file_copy").format(
        sql.Identifier(name), sql.Identifier(server.project.user), sql.Identifier(source)
    )
    for attempt in range(30):
        try:
            with db.connect(admin) as conn:
                conn.execute(statement)
            return
        except psycopg.errors.ObjectInUse:
            if attempt == 29:
                raise BenchError(f"database {source} stays in use by another session; cannot copy it") from None
            time.sleep(1)
