"""The generator continues one world: appends never repeat a row and start where the last
stretch ended."""

from __future__ import annotations

import hashlib
import json
import os
import random
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql

from agent_analytics import bootstrap, bulk, cli, cluster, db, generate
from agent_analytics.generate import load, simulate

# A fixed end (generate --end) makes the data a function of the seed alone.
END = datetime(2026, 11, 24, 12, 30, tzinfo=UTC)
# tiny, seed 42, ending at END: rows of workspaces, users, memberships, agents, events and runs,
# and a digest of them all, as the generator made them before its split (generate.py, 4cf60bc)
PINNED_COUNTS = (3, 20, 24, 7, 288, 37)
PINNED_DIGEST = "b1447c6ef852289f"


def test_a_run_draws_the_same_randomness_whether_or_not_it_finished_before_the_end():
    world = simulate.World(people=[], agents={"w": ["a1", "a2", "a3"]}, activity=1.0)
    started = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for seed in range(200):
        still_going, finished = random.Random(seed), random.Random(seed)
        run_cut = simulate.agent_run(still_going, world, "u", "w", started, until=started + timedelta(seconds=1))
        run_whole = simulate.agent_run(finished, world, "u", "w", started, until=started + timedelta(days=1))
        assert run_cut.id == run_whole.id, "the run id must not depend on where the data ends"
        assert still_going.random() == finished.random(), "later draws must not depend on it either"


def test_appends_at_odd_moments_continue_from_the_remembered_end_without_repeating_a_row(make_database):
    project_db = make_database(seed=5)
    with project_db.connect() as conn:
        end = load.remembered_settings(conn)["end"]
        assert datetime.fromisoformat(end) == project_db.data_end
        events_before = conn.execute("select count(*) from analytics.user_activity").fetchone()[0]
        later = project_db.data_end + timedelta(days=2)  # the stretches lie ahead of the real clock
        for duration in (timedelta(minutes=37), timedelta(hours=1), timedelta(minutes=90), timedelta(days=1)):
            start = datetime.fromisoformat(load.remembered_settings(conn)["end"])
            generate.append(conn, duration, now=later)
            assert datetime.fromisoformat(load.remembered_settings(conn)["end"]) == start + duration
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


GENERATED_TABLES = ("auth.users", "public.users", "public.workspaces", "public.workspace_members", "public.agents",
                    "public.agent_runs", "analytics.user_activity")


def test_the_same_seed_and_end_give_the_same_rows_and_another_end_does_not(test_server, data_end, tmp_path):
    """What the README promises: --seed alone does not fix the rows, --seed with --end does."""
    name = f"aa_test_{os.getpid()}_same_rows"
    made = cluster.create_supabase_database(test_server, name)
    try:
        bootstrap.prepare_demo_database(made, ("--target-path", str(tmp_path)))

        def generated(end: datetime) -> list[str]:
            with db.connect(made.admin) as conn, conn.transaction(force_rollback=True):
                generate.generate(conn, generate.GenerateOptions(scale=generate.SCALES["tiny"], seed=3, end=end))
                return [
                    conn.execute(sql.SQL("select md5(string_agg(t::text, '|' order by t::text)) from {} as t").format(
                        sql.Identifier(*table.split(".")))).fetchone()[0]
                    for table in GENERATED_TABLES
                ]

        first = generated(data_end)
        assert generated(data_end) == first
        assert generated(data_end - timedelta(minutes=30)) != first
    finally:
        db.drop_database(test_server.admin, name)


def test_an_append_ends_now_at_the_latest(make_database):
    project_db = make_database(seed=12)
    with project_db.connect() as conn:
        before = datetime.now(UTC)
        generate.append(conn, timedelta(days=1))  # asks for a day of which an hour at most has passed
        after = datetime.now(UTC)
        end = datetime.fromisoformat(load.remembered_settings(conn)["end"])
        latest_event, latest_start, latest_completion = conn.execute(
            "select (select max(created_at) from analytics.user_activity), "
            "(select max(started_at) from public.agent_runs), (select max(completed_at) from public.agent_runs)"
        ).fetchone()
        assert before <= end <= after
        # A run still going when the stretch ends is finished at the end itself (load.py,
        # _finish_and_rate_runs): a completion may be the end, nothing may lie past it. Whether a
        # run is going then depends on the minute the test runs (one was at 16:05 on 2027-01-01).
        assert latest_event < end and latest_start < end and latest_completion <= end
        with pytest.raises(generate.GeneratorError, match="nothing to append yet"):
            generate.append(conn, timedelta(hours=1), now=end)


def test_a_bulk_load_leaves_every_event_index_valid_on_every_partition(make_database):
    project_db = make_database(seed=6)
    with project_db.connect() as conn, conn.transaction(force_rollback=True):
        before = conn.execute(
            "select count(*) from pg_index where indrelid = 'analytics.user_activity'::regclass"
        ).fetchone()[0]
        with bulk.table_indexes_rebuilt_after(conn, "analytics.user_activity", True, lambda *args: None):
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


def test_a_bulk_load_of_runs_keeps_the_keys_that_reference_them(built):
    """analytics_internal.run_keys references the runs (erasure): the load drops that key with
    the primary key it stands on, and puts both back."""
    keys = "select conname from pg_constraint where confrelid = 'public.agent_runs'::regclass order by 1"
    with built.connect() as conn, conn.transaction(force_rollback=True):
        before = conn.execute(keys).fetchall()
        with bulk.table_indexes_rebuilt_after(conn, "public.agent_runs", True, lambda *args: None):
            assert conn.execute(keys).fetchall() == []
        after = conn.execute(keys).fetchall()
    assert ("run_keys_run_id_fkey",) in before and after == before


def test_a_deploy_repairs_an_event_index_left_invalid(make_database):
    project_db = make_database(seed=8)
    with project_db.connect() as conn:
        conn.execute("drop index analytics.idx_user_activity_session")
        conn.execute("create index idx_user_activity_session on only analytics.user_activity (session_id)")
    project_db.deploy()
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


def test_a_history_simulated_day_by_day_is_the_history_simulated_whole():
    world = simulate.World(people=[], agents={"w1": ["a1", "a2"], "w2": ["a3"]}, activity=2.0)
    person = simulate.Person(
        user_id="u1", created_at=datetime(2026, 1, 1, tzinfo=UTC), workspaces=("w1", "w2"),
        engagement=1.5, ip="10.0.0.1", user_agent="test",
    )
    start, end = datetime(2026, 11, 1, 6, tzinfo=UTC), datetime(2026, 11, 8, 18, tzinfo=UTC)
    whole_runs: list[simulate.AgentRun] = []
    whole = list(simulate.person_events(person, world, 3, start, end, whole_runs))
    by_day_runs: list[simulate.AgentRun] = []
    by_day = [
        event
        for offset in range(9)
        for event in simulate.person_events(
            person, world, 3, start, end, by_day_runs, only_day=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=offset)
        )
    ]
    assert whole and by_day == whole and by_day_runs == whole_runs


def test_the_history_arrived_as_it_happened_and_lies_in_time_order(make_database):
    project_db = make_database(seed=9)
    with project_db.connect() as conn:
        stamped_late = conn.execute(
            "select count(*) from analytics.user_activity where ingested_at <> created_at"
        ).fetchone()[0]
        in_order, pairs = conn.execute(
            """
            select count(*) filter (where created_at >= previous), count(previous)
            from (
                select created_at, lag(created_at) over (partition by tableoid order by ctid) as previous
                from analytics.user_activity
            ) as events
            """
        ).fetchone()
    assert stamped_late == 0
    # Sessions that run past midnight reach the next day's partition before it fills.
    assert pairs > 100 and in_order / pairs > 0.97


def test_a_deploy_drops_the_event_indexes_an_earlier_version_made(make_database):
    """The spec's indexes on user_activity that no query here uses (docs/spec-deviations.md)."""
    earlier = {
        "idx_user_activity_metadata": "using gin (metadata)",
        "idx_user_activity_created_at_brin": "using brin (created_at)",
        "idx_user_activity_event_type": "(event_type, created_at desc)",
    }
    project_db = make_database(seed=10)
    project_db.deploy()
    with project_db.connect() as conn:
        for name, definition in earlier.items():
            conn.execute(f"create index {name} on analytics.user_activity {definition}")
    project_db.deploy()
    with project_db.connect() as conn:
        for name in earlier:
            assert conn.execute("select to_regclass(%s)", (f"analytics.{name}",)).fetchone()[0] is None, name
        assert conn.execute("select count(*) from analytics.user_activity").fetchone()[0] > 0


def simulated(scale: str, seed: int, end: datetime) -> tuple[simulate.App, simulate.StretchRows]:
    """What `generate --scale SCALE --seed SEED --end END` writes, simulated without a database."""
    options = generate.GenerateOptions(scale=generate.SCALES[scale], seed=seed, end=end)
    app = simulate.app(options.scale, seed, options.start, end)
    world = app.world
    activity = simulate.simulate(simulate.Stretch(
        tuple(world.people), world.agents, world.activity, seed, options.start, end, late_from=None))
    return app, activity


def test_the_same_seed_and_end_give_the_same_rows_as_ever():
    """Pinned: these are the rows the generator made before it was split into simulation and
    loading. A change here changes every data set and benchmark; make it on purpose."""
    app, activity = simulated("tiny", 42, END)
    digest = hashlib.sha256()
    for rows in (app.workspaces, app.users, app.memberships, app.agents, activity.events, activity.runs):
        for row in rows:
            digest.update(repr(tuple(row)).encode())
    counts = (len(app.workspaces), len(app.users), len(app.memberships), len(app.agents), len(activity.events),
              len(activity.runs))
    assert (counts, digest.hexdigest()[:16]) == (PINNED_COUNTS, PINNED_DIGEST)


@pytest.fixture
def demo_database(test_server, tmp_path):
    """A database with the demo app and the deploy, and no data yet."""
    name = f"aa_test_{os.getpid()}_generate_cli"
    made = cluster.create_supabase_database(test_server, name)
    bootstrap.prepare_demo_database(made, ("--target-path", str(tmp_path)))
    yield made
    db.drop_database(test_server.admin, name)


def test_generate_with_a_fixed_end_writes_exactly_the_simulated_rows(demo_database, monkeypatch):
    admin = demo_database.admin
    for name in db.LIBPQ_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in (("PGHOST", admin.host), ("PGPORT", str(admin.port)), ("PGUSER", admin.user),
                        ("PGDATABASE", admin.dbname)):
        monkeypatch.setenv(name, value)
    assert cli.main(["generate", "--scale", "tiny", "--seed", "42", "--end", END.isoformat()]) == 0
    app, activity = simulated("tiny", 42, END)
    with db.connect(admin) as conn:
        users = conn.execute("select id::text, email, created_at from public.users order by id").fetchall()
        events = conn.execute("select id::text, created_at, metadata from analytics.user_activity").fetchall()
        runs = conn.execute("select id::text, status, started_at from public.agent_runs").fetchall()
    assert users == sorted((user.id, user.email, user.created_at) for user in app.users)
    assert sorted(events) == sorted(
        (event.id, event.created_at, json.loads(event.metadata)) for event in activity.events)
    assert sorted(runs) == sorted((run.id, run.status, run.started_at) for run in activity.runs)
