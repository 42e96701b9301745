"""The generator continues one world: appends never repeat a row and start where the last
stretch ended."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from agent_analytics import generate


def test_a_run_draws_the_same_randomness_whether_or_not_it_finished_before_the_end():
    world = generate.World(people=[], agents={"w": ["a1", "a2", "a3"]}, activity=1.0)
    started = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for seed in range(200):
        still_going, finished = random.Random(seed), random.Random(seed)
        run_cut = generate._run(still_going, world, "u", "w", started, until=started + timedelta(seconds=1))
        run_whole = generate._run(finished, world, "u", "w", started, until=started + timedelta(days=1))
        assert run_cut[0] == run_whole[0], "the run id must not depend on where the data ends"
        assert still_going.random() == finished.random(), "later draws must not depend on it either"


def test_appends_at_odd_moments_continue_from_the_remembered_end_without_repeating_a_row(make_database):
    project_db = make_database(seed=5)
    with project_db.connect() as conn:
        end = generate._remembered_settings(conn)["end"]
        assert datetime.fromisoformat(end) == project_db.data_end
        events_before = conn.execute("select count(*) from analytics.user_activity").fetchone()[0]
        for duration in (timedelta(minutes=37), timedelta(hours=1), timedelta(minutes=90), timedelta(days=1)):
            start = datetime.fromisoformat(generate._remembered_settings(conn)["end"])
            generate.append(conn, duration)
            assert datetime.fromisoformat(generate._remembered_settings(conn)["end"]) == start + duration
            # Only late events may fall before the stretch; nothing lies beyond it.
            latest = conn.execute(
                "select greatest((select max(created_at) from analytics.user_activity), "
                "(select max(started_at) from public.agent_runs))"
            ).fetchone()[0]
            assert latest < start + duration
        events, distinct_events = conn.execute(
            "select count(*), count(distinct id) from analytics.user_activity"
        ).fetchone()
        runs, distinct_runs = conn.execute("select count(*), count(distinct id) from public.agent_runs").fetchone()
    assert events > events_before
    assert events == distinct_events and runs == distinct_runs


def test_a_bulk_load_leaves_every_event_index_valid_on_every_partition(make_database):
    project_db = make_database(seed=6)
    with project_db.connect() as conn, conn.transaction(force_rollback=True):
        before = conn.execute(
            "select count(*) from pg_index where indrelid = 'analytics.user_activity'::regclass"
        ).fetchone()[0]
        with generate.table_indexes_rebuilt_after(conn, "analytics.user_activity", True, lambda *args: None):
            conn.execute(
                "insert into analytics.user_activity (user_id, event_type) select id, 'login' from public.users"
            )
        invalid = conn.execute(
            "select count(*) from pg_index where indrelid = 'analytics.user_activity'::regclass and not indisvalid"
        ).fetchone()[0]
        after = conn.execute(
            "select count(*) from pg_index where indrelid = 'analytics.user_activity'::regclass"
        ).fetchone()[0]
        missing = conn.execute(
            """
            select count(*) from pg_inherits as parts
            cross join pg_index as parent
            where parts.inhparent = 'analytics.user_activity'::regclass
              and parent.indrelid = 'analytics.user_activity'::regclass
              and not exists (
                  select from pg_inherits as children
                  join pg_index as child on child.indexrelid = children.inhrelid
                  where children.inhparent = parent.indexrelid and child.indrelid = parts.inhrelid
              )
            """
        ).fetchone()[0]
    assert (after, invalid, missing) == (before, 0, 0)


def test_a_build_repairs_an_event_index_left_invalid(make_database):
    project_db = make_database(seed=8)
    with project_db.connect() as conn:
        conn.execute("drop index analytics.idx_user_activity_session")
        conn.execute("create index idx_user_activity_session on only analytics.user_activity (session_id)")
    project_db.dbt("run-operation", "setup_analytics_tables")
    with project_db.connect() as conn:
        valid, partitions_with_it = conn.execute(
            """
            select i.indisvalid,
                   (select count(*) from pg_inherits where inhparent = i.indexrelid)
            from pg_index as i where i.indexrelid = 'analytics.idx_user_activity_session'::regclass
            """
        ).fetchone()
        partitions = conn.execute(
            "select count(*) from pg_inherits where inhparent = 'analytics.user_activity'::regclass"
        ).fetchone()[0]
    assert valid and partitions_with_it == partitions
