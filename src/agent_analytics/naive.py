"""The naive baseline: the spec's own SQL, in schema `naive`, on the same data as ours."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from importlib import resources

import psycopg
from psycopg import sql

from agent_analytics import db
from agent_analytics.bulk import table_indexes_rebuilt_after
from agent_analytics.progress import Progress

SCHEMA = "naive"
# Tables the spec creates but never fills: the benchmark copies our rows into them, so that
# the spec's indexes and policies are timed on the same rows as ours.
COPIED_FROM_OURS = ("hourly_metrics", "agent_performance", "user_cohorts", "alert_rules", "alert_history")

VIEWS = ("mv_active_users", "mv_top_agents", "mv_workspace_summary")


def spec_sql() -> str:
    return resources.files("agent_analytics").joinpath("sql", "naive_spec.sql").read_text(encoding="utf-8")


def spec_sql_with_empty_views() -> str:
    """The spec's SQL with its materialized views created WITH NO DATA, so that filling them
    is timed (and limited) on its own: on skewed data the spec's mv_workspace_summary joins
    every member with every run of their workspace and can take hours."""
    return re.sub(r"(CREATE MATERIALIZED VIEW .*?);", lambda match: match.group(1) + "\nWITH NO DATA;", spec_sql(),
                  flags=re.S)


def install(conn: psycopg.Connection, progress: Progress) -> None:
    """Create the naive schema from the spec's SQL and load our events into its user_activity;
    its views are left empty (fill_views fills them)."""
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SCHEMA)))
    conn.execute(spec_sql_with_empty_views())
    progress("naive: spec SQL", 1, 1, 0)
    with conn.transaction():
        # Its eight indexes and two foreign keys are built once after the load, not row by row.
        with table_indexes_rebuilt_after(conn, "naive.user_activity", True, progress):
            columns = _shared_columns(conn, "user_activity")
            moved = conn.execute(
                sql.SQL("insert into naive.user_activity ({columns}) select {columns} from analytics.user_activity")
                .format(columns=columns)
            ).rowcount
            progress("naive: events", 1, 1, moved)
    conn.execute("analyze naive.user_activity")


def fill_views(conn: psycopg.Connection, timeout_seconds: float, progress: Progress) -> dict[str, float | None]:
    """The first (plain) refresh of each view, as creating it WITH DATA would do: seconds, or
    None when it did not finish within the limit (the view then stays unpopulated)."""
    filled: dict[str, float | None] = {}
    for done, view in enumerate(VIEWS, start=1):
        filled[view] = db.timed(
            conn, sql.SQL("refresh materialized view naive.{}").format(sql.Identifier(view)), limit=timeout_seconds
        )
        progress("naive: first view fills", done, len(VIEWS), done)
    return filled


def copy_unfilled_tables(conn: psycopg.Connection) -> dict[str, int]:
    """Our rows into the tables nothing in the spec fills; returns rows copied per table."""
    copied = {}
    with conn.transaction():
        for table in COPIED_FROM_OURS:
            columns = _shared_columns(conn, table)
            copied[table] = conn.execute(
                sql.SQL("insert into naive.{table} ({columns}) select {columns} from analytics.{table}").format(
                    table=sql.Identifier(table), columns=columns
                )
            ).rowcount
    for table in COPIED_FROM_OURS:
        conn.execute(sql.SQL("analyze naive.{}").format(sql.Identifier(table)))
    return copied


def aggregate_days(conn: psycopg.Connection, first: date, last: date, progress: Progress) -> list[tuple[date, float]]:
    """The spec's daily job, once per day, as it would run: seconds per call."""
    timings = []
    total = (last - first).days + 1
    for offset in range(total):
        day = first + timedelta(days=offset)
        started = time.perf_counter()
        conn.execute("select naive.aggregate_daily_metrics(%s)", (day,))
        timings.append((day, time.perf_counter() - started))
        progress("naive: daily aggregation", offset + 1, total, offset + 1)
    conn.execute("analyze naive.daily_metrics")
    return timings


def _shared_columns(conn: psycopg.Connection, table: str) -> sql.Composed:
    """The naive table's columns that ours has too (ours has every spec column)."""
    rows = conn.execute(
        """
        select a.attname from pg_catalog.pg_attribute as a
        where a.attrelid = format('naive.%%I', %(table)s::text)::regclass and a.attnum > 0 and not a.attisdropped
          and exists (
              select from pg_catalog.pg_attribute as b
              where b.attrelid = format('analytics.%%I', %(table)s::text)::regclass and b.attname = a.attname
                and not b.attisdropped
          )
        order by a.attnum
        """,
        {"table": table},
    ).fetchall()
    return sql.SQL(", ").join(sql.Identifier(name) for (name,) in rows)
