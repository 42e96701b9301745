"""Events per second into each schema's user_activity: through track_event (a member, as
PostgREST calls it), single-row and batched INSERTs as service_role, and COPY."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from agent_analytics import postgrest
from agent_analytics.bench.data import RunDatabase
from agent_analytics.bench.options import BenchOptions
from agent_analytics.bench.results import Ingestion, Rate, rate
from agent_analytics.progress import Progress

COLUMNS = ("id", "user_id", "workspace_id", "event_type", "event_name", "page_path", "session_id",
           "metadata", "created_at")
BATCH = 1000  # rows per transaction of the batched INSERTs


def ingestion(bench: RunDatabase, options: BenchOptions, progress: Progress) -> Ingestion:
    """Rows of one shape into ours and naive; fewer at tiny scale, where CI runs it."""
    single = 200 if options.scale_name == "tiny" else 2_000
    bulk = 5_000 if options.scale_name == "tiny" else 100_000
    with bench.connect() as conn:
        members = conn.execute(
            "select m.workspace_id, m.user_id from public.workspace_members as m order by m.workspace_id, m.user_id"
        ).fetchall()
    rng = random.Random(options.seed)
    results: dict[str, dict[str, Rate]] = {"ours": {}, "naive": {}}

    def events(count: int) -> list[tuple]:
        now = datetime.now(UTC)
        made = []
        for _ in range(count):
            workspace_id, user_id = rng.choice(members)
            made.append((uuid.UUID(int=rng.getrandbits(128), version=4), user_id, workspace_id, "feature_use",
                         "scheduler", "/agents", uuid.UUID(int=rng.getrandbits(128), version=4),
                         '{"feature": "scheduler"}', now - timedelta(seconds=rng.uniform(0, 600))))
        return made

    ways = [("track_event", "analytics", single)] + [
        (path, schema, count)
        for path, count in (("insert_single", single), (f"insert_batched_{BATCH}", bulk), ("copy", bulk))
        for schema in ("analytics", "naive")
    ]
    with bench.connect() as conn:
        for done, (path, schema, count) in enumerate(ways, start=1):
            seconds = _write_events(conn, schema, events(count), path)
            results["ours" if schema == "analytics" else "naive"][path] = rate(count, seconds)
            progress("ingestion", done, len(ways), count)
    return Ingestion(ours=results["ours"], naive=results["naive"])


def _write_events(conn: psycopg.Connection, schema: str, rows: list[tuple], path: str) -> float:
    """Seconds to write `rows`: through track_event as their members, or as service_role in one
    transaction per row, per BATCH rows, or one COPY."""
    table = sql.SQL("{}.user_activity").format(sql.Identifier(schema))
    names = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    insert = sql.SQL("insert into {} ({}) values ({})").format(
        table, names, sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS))
    )
    started = time.perf_counter()
    if path == "track_event":
        for _, user_id, workspace_id, event_type, event_name, page_path, session_id, metadata, created_at in rows:
            with conn.transaction():
                postgrest.impersonate(conn, "authenticated", user_id)
                conn.execute(
                    "select analytics.track_event(%s, %s, %s, %s, %s, %s::jsonb, null, %s)",
                    (event_type, workspace_id, event_name, page_path, session_id, metadata, created_at),
                )
    elif path == "insert_single":
        for row in rows:
            with conn.transaction():
                postgrest.impersonate(conn, "service_role")
                conn.execute(insert, row)
    elif path == f"insert_batched_{BATCH}":
        for first in range(0, len(rows), BATCH):
            with conn.transaction():
                postgrest.impersonate(conn, "service_role")
                conn.cursor().executemany(insert, rows[first:first + BATCH])
    else:
        with conn.transaction():
            postgrest.impersonate(conn, "service_role")
            with conn.cursor().copy(sql.SQL("copy {} ({}) from stdin").format(table, names)) as copy:
                for row in rows:
                    copy.write_row(row)
    return time.perf_counter() - started
