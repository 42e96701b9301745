"""The scheduled functions, timed on both schemas: one day's aggregation, the refreshes of the
materialized views, and the retention (cleanup_old_data)."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import psycopg
from psycopg import sql

from agent_analytics import db, naive
from agent_analytics.bench.data import RunDatabase
from agent_analytics.bench.results import (
    AggregationTiming,
    RefreshTiming,
    Retention,
    RetentionTiming,
    ratio,
    summary,
)
from agent_analytics.progress import Progress

# The spec's three materialized views, which ours keep by name.
VIEWS = naive.VIEWS
NOT_POPULATED = "not populated: its first fill ran past the time limit"


def recent_days(bench: RunDatabase, count: int = 7) -> list[date]:
    """The last complete UTC days of the data."""
    with bench.connect() as conn:
        last = conn.execute("select (max(created_at) at time zone 'UTC')::date - 1 from analytics.user_activity").fetchone()[0]
    return [last - timedelta(days=offset) for offset in range(count)]


def our_aggregation(bench: RunDatabase, progress: Progress) -> AggregationTiming:
    """analytics.aggregate_daily_metrics(day), as service_role calls it, for the last days."""
    timings = []
    days = recent_days(bench)
    with bench.connect() as conn:
        for index, day in enumerate(days, start=1):
            timings.append(db.timed(conn, sql.SQL("select analytics.aggregate_daily_metrics(%s)"), (day,),
                                    role="service_role"))
            progress("one day's aggregation", index, len(days), index)
    return AggregationTiming(days=[day.isoformat() for day in days], timings=summary(timings),
                             computes="all 23 figures of every workspace with activity that day and the platform row")


def our_refreshes(bench: RunDatabase, repeat: int, progress: Progress) -> dict[str, RefreshTiming]:
    with bench.connect() as conn:
        owner = conn.execute(
            "select pg_get_userbyid(relowner) from pg_class where oid = 'analytics.mv_active_users'::regclass"
        ).fetchone()[0]
    return refreshes(bench, "analytics", owner, "service_role", repeat, progress)


def refreshes(
    bench: RunDatabase, schema: str, owner: str | None, caller: str | None, repeat: int, progress: Progress,
    limit: float | None = None, views: tuple[str, ...] = VIEWS,
) -> dict[str, RefreshTiming]:
    """Each view refreshed on its own (as its owner, the only role allowed), then all of them
    through the schema's refresh_all_materialized_views() (as `caller`). A view missing from
    `views` is not populated and cannot be refreshed concurrently; one that runs past `limit`
    seconds is not tried again. Ours are tables, each refreshed by its function."""
    timings: dict[str, list[float]] = {name: [] for name in (*VIEWS, "all")}
    wal: dict[str, list[float]] = {name: [] for name in (*VIEWS, "all")}
    timed_out: set[str] = set()
    every_view = set(VIEWS) <= set(views)
    steps = repeat * (len(VIEWS) + 1)
    done = 0
    with bench.connect() as conn:
        for _ in range(repeat):
            for view in VIEWS:
                if view in views and view not in timed_out:
                    statement = _refresh_one(conn, schema, view)
                    _record(timings[view], wal[view], timed_out, view, *_timed_with_wal(conn, statement, owner, limit))
                done += 1
                progress(f"{schema}: view refreshes", done, steps, done)
            if every_view and "all" not in timed_out:
                statement = sql.SQL("select {}.refresh_all_materialized_views()").format(sql.Identifier(schema))
                _record(timings["all"], wal["all"], timed_out, "all", *_timed_with_wal(conn, statement, caller, limit))
            done += 1
            progress(f"{schema}: view refreshes", done, steps, done)
    results = {}
    for name, values in timings.items():
        if name in timed_out:
            results[name] = RefreshTiming(timings=summary(values), timed_out_after_s=limit)
        elif (name == "all" and not every_view) or (name != "all" and name not in views):
            results[name] = RefreshTiming(timings=summary([]), unavailable=NOT_POPULATED)
        else:
            results[name] = RefreshTiming(timings=summary(values), wal_bytes_p50=statistics.median(wal[name]))
    return results


def _refresh_one(conn: psycopg.Connection, schema: str, view: str) -> sql.Composed:
    """A materialized view's concurrent refresh, or the refresh function of a table that stands
    in for one (macros/materializations/refreshed_table.sql)."""
    kind = conn.execute("select relkind::text from pg_class where oid = %s::regclass", (f"{schema}.{view}",)).fetchone()[0]
    if kind == "m":
        return sql.SQL("refresh materialized view concurrently {}.{}").format(sql.Identifier(schema), sql.Identifier(view))
    return sql.SQL("select {}.{}()").format(sql.Identifier(f"{schema}_internal"), sql.Identifier(f"refresh_{view}"))


def _timed_with_wal(
    conn: psycopg.Connection, statement: sql.Composable, role: str | None, limit: float | None,
) -> tuple[float | None, float]:
    """db.timed, and the WAL the cluster wrote meanwhile: what a refresh costs replicas, backups
    and the disk beyond its time (nothing else writes while the benchmark refreshes)."""
    before = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]
    seconds = db.timed(conn, statement, role=role, limit=limit)
    written = conn.execute("select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (before,)).fetchone()[0]
    return seconds, float(written)


def _record(
    timings: list[float], wal: list[float], timed_out: set[str], name: str, seconds: float | None, written: float,
) -> None:
    if seconds is None:
        timed_out.add(name)
    else:
        timings.append(seconds)
        wal.append(written)


def retention(bench: RunDatabase) -> Retention:
    """Each schema's cleanup_old_data(): the same events older than 90 days go."""
    results = {}
    with bench.connect() as conn:
        for schema, role in (("analytics", "service_role"), ("naive", None)):
            table = sql.SQL("{}.user_activity").format(sql.Identifier(schema))
            hourly = sql.SQL("{}.hourly_metrics").format(sql.Identifier(schema))
            before = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]
            hourly_before = conn.execute(sql.SQL("select count(*) from {}").format(hourly)).fetchone()[0]
            seconds = db.timed(conn, sql.SQL("select {}.cleanup_old_data()").format(sql.Identifier(schema)), role=role)
            after = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]
            hourly_after = conn.execute(sql.SQL("select count(*) from {}").format(hourly)).fetchone()[0]
            results[schema] = RetentionTiming(
                seconds=round(seconds, 3), events_removed=before - after, events_kept=after,
                hourly_rows_removed=hourly_before - hourly_after,
            )
    ours, naive = results["analytics"], results["naive"]
    return Retention(ours=ours, naive=naive, ratio=ratio(ours.seconds, naive.seconds))
