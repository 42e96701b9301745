"""Builds that run while the app writes lose nothing: each build takes in one consistent cut of
what arrived (events by ingested_at, runs by updated_at), the same for every model, so that
after the writes stop and one more build runs, every rollup and materialized view equals the
independent computation and a full refresh on a copy of the data."""

from __future__ import annotations

import json
import random
import threading

from psycopg import sql

from agent_analytics import db, dbt
from conftest import wait_until
from test_metrics import check_every_metric, rollup_values

PAUSE = "agent-analytics pause"


def quiet_member_hour(project_db) -> tuple:
    """A member, their workspace and an hour two days back in which they did nothing there."""
    return project_db.rows(
        """
        select m.user_id, m.workspace_id, hours.hour + interval '17 minutes'
        from public.workspace_members as m
        cross join generate_series(date_trunc('hour', now()) - interval '60 hours',
                                   date_trunc('hour', now()) - interval '40 hours', interval '1 hour') as hours (hour)
        where not exists (
            select from analytics.user_activity as a
            where a.user_id = m.user_id and a.workspace_id = m.workspace_id
              and a.created_at >= hours.hour and a.created_at < hours.hour + interval '1 hour')
          and not exists (
            select from public.agent_runs as r
            where r.user_id = m.user_id and r.workspace_id = m.workspace_id
              and r.started_at >= hours.hour and r.started_at < hours.hour + interval '1 hour')
        order by m.user_id, hours.hour
        limit 1
        """
    )[0]


def test_an_event_committed_between_two_models_of_one_build_reaches_every_rollup(make_database):
    """The writer commits after int_user_activity_hours has read and before hourly_metrics does:
    hourly_metrics recomputes the event's hour from a grain that lacks it, so it must take the
    event in again on the next build, after the grain has."""
    project_db = make_database(seed=51)
    project_db.build(data_tests=False)
    user_id, workspace_id, happened = quiet_member_hour(project_db)
    holder = db.connect(project_db.target)
    writer = db.connect(project_db.target, autocommit=False)
    failures: list[BaseException] = []

    def build() -> None:
        try:
            project_db.build("--vars", json.dumps({"pause_before": "hourly_metrics"}), data_tests=False)
        except BaseException as error:  # reported by the test thread
            failures.append(error)

    try:
        holder.execute("select pg_advisory_lock(hashtext(%s))", (PAUSE,))
        writer.execute(
            "insert into analytics.user_activity (user_id, workspace_id, event_type, created_at) "
            "values (%s, %s, 'feature_use', %s)", (user_id, workspace_id, happened),
        )
        running = threading.Thread(target=build)
        running.start()

        def build_waits() -> bool:
            assert running.is_alive(), "the build ended before it reached hourly_metrics"
            return holder.execute(
                "select exists (select from pg_locks where locktype = 'advisory' and not granted)"
            ).fetchone()[0]

        wait_until(build_waits, "the build did not reach hourly_metrics in 300 s", 300)
        writer.commit()
        holder.execute("select pg_advisory_unlock(hashtext(%s))", (PAUSE,))
        running.join()
    finally:
        writer.close()
        holder.close()
    assert not failures, failures
    project_db.build()
    check_every_metric(project_db)


def write_like_the_app(target: db.Connection, stop: threading.Event, seed: int, pause: float = 0) -> dict[str, int]:
    """Late events and run changes, each in a transaction of its own, until told to stop; `pause`
    seconds between two transactions."""
    rng = random.Random(seed)
    done = {"events": 0, "runs_updated": 0, "runs_added": 0}
    with db.connect(target) as conn:
        members = conn.execute("select user_id, workspace_id from public.workspace_members").fetchall()
        runs = [row[0] for row in conn.execute("select id from public.agent_runs").fetchall()]
        while not stop.is_set():
            with conn.transaction():
                for _ in range(rng.randint(1, 3)):
                    user_id, workspace_id = rng.choice(members)
                    conn.execute(
                        "insert into analytics.user_activity (user_id, workspace_id, event_type, session_id, created_at) "
                        "values (%s, %s, %s, gen_random_uuid(), now() - make_interval(mins => %s))",
                        (user_id, workspace_id, rng.choice(["page_view", "feature_use", "login", "error"]),
                         rng.randint(0, 70 * 60)),
                    )
                    done["events"] += 1
                if rng.random() < 0.5:
                    conn.execute(
                        "update public.agent_runs set status = %s, user_rating = %s, completed_at = coalesce(completed_at, now()), "
                        "runtime_seconds = coalesce(runtime_seconds, 1) + 1, credits_consumed = credits_consumed + 0.5 "
                        "where id = %s",
                        (rng.choice(["completed", "failed", "cancelled"]), rng.randint(1, 5), rng.choice(runs)),
                    )
                    done["runs_updated"] += 1
                else:
                    conn.execute(
                        "insert into public.agent_runs (agent_id, workspace_id, user_id, status, started_at, model) "
                        "select agent_id, workspace_id, user_id, 'running', now() - make_interval(mins => %s), model "
                        "from public.agent_runs where id = %s",
                        (rng.randint(0, 48 * 60), rng.choice(runs)),
                    )
                    done["runs_added"] += 1
            stop.wait(pause)
    return done


def test_builds_while_the_app_writes_equal_a_full_refresh_and_the_independent_metrics(make_database, admin_target):
    project_db = make_database(seed=52)
    project_db.build(data_tests=False)
    stop = threading.Event()
    written: list[dict[str, int]] = []
    writer = threading.Thread(target=lambda: written.append(write_like_the_app(project_db.target, stop, 52)))
    writer.start()
    try:
        for _ in range(4):
            project_db.build(data_tests=False)
    finally:
        stop.set()
        writer.join()
    assert written and written[0]["events"] > 50 and written[0]["runs_updated"] > 10
    project_db.build()  # the writes have stopped: one clean build
    check_every_metric(project_db)
    assert_equal_to_a_full_refresh(project_db, admin_target)


MATERIALIZED_VIEWS = (("mv_active_users", "activity_date, workspace_id"), ("mv_top_agents", "agent_id"),
                      ("mv_workspace_summary", "workspace_id"))


def assert_equal_to_a_full_refresh(project_db, admin: db.Connection, *build_args: str) -> None:
    """Every rollup, grain and materialized view equals what a full refresh (`dbt build
    --full-refresh`, with build_args) computes from the same data. The refresh runs on a copy
    (CREATE DATABASE ... TEMPLATE, so nobody may be connected to the database): the incremental
    tables stay as the builds left them."""
    copy = project_db.target.dbname + "_refresh"
    with db.connect(admin) as conn:
        conn.execute(sql.SQL("create database {} template {} owner postgres").format(
            sql.Identifier(copy), sql.Identifier(project_db.target.dbname)))
    try:
        dbt.run_dbt(["build", "--full-refresh", *build_args, "--target-path", str(project_db.target_path)],
                    project_db.target.with_database(copy), capture=True)
        refreshed = rollup_values(type(project_db)(project_db.server.database(copy), project_db.target_path,
                                                   project_db.data_end))
        assert refreshed == rollup_values(project_db)
        for view, key in MATERIALIZED_VIEWS:
            query = f"select * from analytics.{view} order by {key}"
            with db.connect(project_db.target.with_database(copy)) as conn:
                assert conn.execute(query).fetchall() == project_db.rows(query), view
    finally:
        db.drop_database(admin, copy)
