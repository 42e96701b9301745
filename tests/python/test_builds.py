"""Builds are repeatable: a second build, a full refresh and the session TimeZone change nothing."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from agent_analytics import cluster, db, dbt
from conftest import ARTIFACTS, PROJECT

ROLLUPS = ("daily_metrics", "hourly_metrics", "agent_performance", "user_cohorts")
MATERIALIZED_VIEWS = ("mv_active_users", "mv_top_agents", "mv_workspace_summary")
BOOKKEEPING = {"created_at", "updated_at"}


def snapshot(project_db, relation: str, *, with_bookkeeping: bool = True) -> list[tuple]:
    columns = [
        name for (name,) in project_db.rows(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped "
            "order by attnum",
            (f"analytics.{relation}",),
        )
        if with_bookkeeping or name not in BOOKKEEPING
    ]
    listed = ", ".join(f'"{name}"' for name in columns)
    return project_db.rows(f"select {listed} from analytics.{relation} order by {listed}")


def snapshot_all(project_db, *, with_bookkeeping: bool = True) -> dict[str, list[tuple]]:
    return {
        relation: snapshot(project_db, relation, with_bookkeeping=with_bookkeeping)
        for relation in (*ROLLUPS, *MATERIALIZED_VIEWS)
    }


@pytest.fixture(scope="module")
def rebuilt(make_database):
    """A database of this module's own: each test here builds it again and compares."""
    project_db = make_database(seed=21)
    project_db.build(data_tests=False)
    return project_db


def test_rollups_are_not_empty_after_a_build(rebuilt):
    for relation in (*ROLLUPS, *MATERIALIZED_VIEWS):
        assert rebuilt.value(f"select count(*) from analytics.{relation}") > 0, relation


def test_second_build_changes_nothing_not_even_updated_at(rebuilt):
    before = snapshot_all(rebuilt)
    rebuilt.build()
    assert snapshot_all(rebuilt) == before


def test_full_refresh_keeps_app_written_data_and_recomputes_the_same_rollups(rebuilt):
    project_db = rebuilt
    workspace_id, user_id = project_db.rows("select workspace_id, user_id from public.workspace_members limit 1")[0]
    with project_db.connect() as conn:
        rule_id = conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, created_by) "
            "values (%s, 'High error rate', 'error_rate', 'greater_than', 5, %s) returning id",
            (workspace_id, user_id),
        ).fetchone()[0]
        conn.execute(
            "insert into analytics.alert_history (alert_rule_id, workspace_id, metric_value, threshold_value) "
            "values (%s, %s, 7.5, 5)",
            (rule_id, workspace_id),
        )
    events = project_db.rows("select * from analytics.user_activity order by id")
    rules = project_db.rows("select * from analytics.alert_rules order by id")
    history = project_db.rows("select * from analytics.alert_history order by id")
    rollups = snapshot_all(project_db, with_bookkeeping=False)

    project_db.build("--full-refresh")

    assert project_db.rows("select * from analytics.user_activity order by id") == events
    assert project_db.rows("select * from analytics.alert_rules order by id") == rules
    assert project_db.rows("select * from analytics.alert_history order by id") == history
    assert snapshot_all(project_db, with_bookkeeping=False) == rollups


def test_session_timezone_changes_no_result_and_runs_stay_on_their_utc_day(rebuilt):
    project_db = rebuilt
    agent_id, workspace_id, user_id = project_db.rows(
        "select a.id, a.workspace_id, m.user_id from public.agents a "
        "join public.workspace_members m on m.workspace_id = a.workspace_id limit 1"
    )[0]
    day = (datetime.now(UTC) - timedelta(days=2)).date()
    # 02:30 UTC is still the previous day in Los Angeles.
    started = datetime(day.year, day.month, day.day, 2, 30, tzinfo=UTC)
    with project_db.connect() as conn:
        conn.execute(
            "insert into public.agents (workspace_id, name, created_at) values (%s, 'tz', now()) returning id",
            (workspace_id,),
        )
        agent_id = conn.execute("select id from public.agents where name = 'tz'").fetchone()[0]
        conn.execute(
            "insert into public.agent_runs (agent_id, workspace_id, user_id, status, started_at, completed_at, "
            "runtime_seconds, credits_consumed, model, updated_at) "
            "values (%s, %s, %s, 'completed', %s, %s, 12, 1.5, 'gpt-4o', now())",
            (agent_id, workspace_id, user_id, started, started + timedelta(seconds=12)),
        )
    project_db.build(env={"PGTZ": "America/Los_Angeles"})
    in_los_angeles = snapshot_all(project_db, with_bookkeeping=False)
    assert project_db.rows(
        "select metric_date from analytics.agent_performance where agent_id = %s", (agent_id,)
    ) == [(day,)]

    project_db.build("--full-refresh", env={"PGTZ": "Pacific/Kiritimati"})
    assert snapshot_all(project_db, with_bookkeeping=False) == in_los_angeles


def test_results_do_not_depend_on_the_order_rows_arrived(rebuilt):
    before = snapshot_all(rebuilt, with_bookkeeping=False)
    with rebuilt.connect() as conn, conn.transaction():
        # Write every event and run again, newest first: the physical order is reversed.
        conn.execute("create temporary table events_again as select * from analytics.user_activity")
        conn.execute("create temporary table runs_again as select * from public.agent_runs")
        conn.execute("delete from analytics.user_activity")
        conn.execute("delete from public.agent_runs")
        conn.execute("insert into analytics.user_activity select * from events_again order by created_at desc, id desc")
        conn.execute("insert into public.agent_runs select * from runs_again order by started_at desc, id desc")
    rebuilt.build("--full-refresh")
    assert snapshot_all(rebuilt, with_bookkeeping=False) == before


def test_an_earlier_versions_materialized_view_becomes_the_table_and_an_older_table_is_made_again(rebuilt):
    # What an upgrade of the project meets: the view as an earlier version made it; and the
    # refresh function of a later one, which returned nothing (create or replace cannot change a
    # result type, so the build makes it again).
    current = snapshot(rebuilt, "mv_top_agents")
    owner = rebuilt.value("select tableowner from pg_tables where schemaname = 'analytics' and tablename = 'mv_top_agents'")
    refresh = "analytics_internal.refresh_mv_top_agents()"
    with rebuilt.connect() as conn, conn.transaction():
        conn.execute("drop table analytics.mv_top_agents cascade")
        conn.execute(
            "create materialized view analytics.mv_top_agents as "
            "select agent_id, agent_name, workspace_id, 0 as total_runs_30d from analytics_internal.stg_app__agents"
        )
        conn.execute("create unique index idx_mv_top_agents on analytics.mv_top_agents (agent_id)")
        conn.execute(sql.SQL("alter materialized view analytics.mv_top_agents owner to {}").format(sql.Identifier(owner)))
        conn.execute(f"drop function {refresh}")
        conn.execute(f"create function {refresh} returns void language sql as 'select'")
        conn.execute(sql.SQL("alter function analytics_internal.refresh_mv_top_agents() owner to {}").format(
            sql.Identifier(owner)))

    rebuilt.build()
    assert rebuilt.value(f"select prorettype::regtype::text from pg_proc where oid = '{refresh}'::regprocedure") == "bigint"

    assert rebuilt.value("select relkind::text || relrowsecurity::text from pg_class "
                         "where oid = 'analytics.mv_top_agents'::regclass") == "rtrue"
    assert snapshot(rebuilt, "mv_top_agents") == current
    assert rebuilt.value("select to_regprocedure('analytics.member_top_agents()') is not null")

    # a build after it keeps the table (and so its oid), and refreshes its rows in place
    oid = rebuilt.value("select 'analytics.mv_top_agents'::regclass::oid")
    with rebuilt.connect() as conn:
        conn.execute("update analytics.mv_top_agents set total_runs_30d = total_runs_30d + 1")
    rebuilt.build()
    assert rebuilt.value("select 'analytics.mv_top_agents'::regclass::oid") == oid
    assert snapshot(rebuilt, "mv_top_agents") == current

    # a table without a column or an index the model now has is made again
    for change in ("alter table analytics.mv_top_agents drop column last_run_at",
                   "drop index analytics.idx_mv_top_agents_workspace"):
        with rebuilt.connect() as conn:
            conn.execute(change)
        rebuilt.build()
        assert snapshot(rebuilt, "mv_top_agents") == current, change
        assert rebuilt.value("select count(*) from pg_indexes where schemaname = 'analytics' "
                             "and indexname in ('idx_mv_top_agents', 'idx_mv_top_agents_workspace')") == 2, change


def test_a_grain_built_before_its_unique_key_gets_it_at_the_next_build(rebuilt):
    # What an upgrade meets: int_user_first_seen as a version before 2026-12-05 built it, without
    # the key the live day looks each of its users up by (docs/live-metrics.md, "Cost").
    name = "int_user_first_seen_scope_user_key"
    key = f"select pg_get_constraintdef(oid) from pg_constraint where conname = '{name}'"
    with rebuilt.connect() as conn:
        conn.execute(f"alter table analytics_internal.int_user_first_seen drop constraint {name}")
    assert rebuilt.value(f"select count(*) from ({key}) as found") == 0
    rebuilt.build()
    assert rebuilt.value(key) == "UNIQUE (scope_id, user_id)"


def test_a_refresh_writes_only_the_rows_that_changed(rebuilt):
    # As REFRESH ... CONCURRENTLY did: with nothing new every row stays the version it was (the
    # platform's rows, whose workspace_id is NULL, too); after one row went wrong, that row alone
    # is written again, and the table is the query's rows.
    def versions(view: str) -> set[tuple]:
        return set(rebuilt.rows(f"select ctid::text, xmin::text from analytics.{view}"))

    def refresh() -> None:
        with rebuilt.connect() as conn:
            conn.execute("select analytics.refresh_all_materialized_views()")

    refresh()
    assert rebuilt.value("select count(*) from analytics.mv_active_users where workspace_id is null") > 0
    current = {view: snapshot(rebuilt, view) for view in MATERIALIZED_VIEWS}
    written = {view: versions(view) for view in MATERIALIZED_VIEWS}
    refresh()
    for view in MATERIALIZED_VIEWS:
        assert versions(view) == written[view], view
        assert snapshot(rebuilt, view) == current[view], view

    with rebuilt.connect() as conn:
        conn.execute("update analytics.mv_active_users set daily_active_users = daily_active_users + 1 "
                     "where (activity_date, workspace_id) = (select activity_date, workspace_id "
                     "from analytics.mv_active_users where workspace_id is not null "
                     "order by activity_date desc, workspace_id limit 1)")
    damaged = versions("mv_active_users")
    refresh()
    assert snapshot(rebuilt, "mv_active_users") == current["mv_active_users"]
    after = versions("mv_active_users")
    assert len(damaged - after) == 1 and len(after - damaged) == 1
    assert len(written["mv_active_users"] & after) == len(after) - 1


def test_a_table_planted_under_the_refreshs_temporary_name_is_refused_and_changes_nothing(rebuilt):
    # service_role may call refresh_all_materialized_views() and make temporary tables in its own
    # session: one named as the refresh's own, full of rows of its choosing, must not reach the table.
    current = snapshot(rebuilt, "mv_active_users")
    with rebuilt.connect() as conn:
        conn.execute("set role service_role")
        conn.execute('create temporary table "mv_active_users__fresh" as '
                     "select * from analytics.mv_active_users limit 0")
        conn.execute('insert into pg_temp."mv_active_users__fresh" (activity_date, workspace_id, daily_active_users) '
                     "values ('2000-01-01', null, -1)")
        with pytest.raises(psycopg.errors.DuplicateTable, match="mv_active_users__fresh"):
            conn.execute("select analytics.refresh_all_materialized_views()")
    assert snapshot(rebuilt, "mv_active_users") == current
    # and the next caller's refresh runs as before
    with rebuilt.connect() as conn:
        conn.execute("select analytics.refresh_all_materialized_views()")
    assert snapshot(rebuilt, "mv_active_users") == current


def test_a_full_build_writes_the_large_grains_in_time_order(rebuilt):
    rebuilt.build("--full-refresh")
    for table, column in (("int_user_scope_days", "activity_date"), ("int_user_activity_hours", "activity_hour"),
                          ("int_sessions", "session_start_at"), ("int_agent_run_days", "run_date")):
        # the order means something once there are several values; how many rows the tiny data
        # gives depends on the hour it is generated (int_agent_run_days: 19 rows at one hour, over 20 at another)
        values, out_of_order = rebuilt.rows(
            f"select count(distinct {column}), count(*) filter (where earlier) from ("
            f"  select {column}, {column} < lag({column}) over (order by ctid) as earlier"
            f"  from analytics_internal.{table}"
            f") as physical"
        )[0]
        assert values > 2 and out_of_order == 0, (table, values, out_of_order)


REFRESHED_TABLES = ("mv_active_users", "mv_top_agents", "mv_workspace_summary")


def rows_written(project_db, models=("daily_metrics", "agent_performance")) -> dict[str, tuple[str, int]]:
    """What dbt reported for each of `models` in the last build: its status line and rows affected."""
    results = json.loads((project_db.target_path / "run_results.json").read_text())["results"]
    return {
        result["unique_id"].rsplit(".", 1)[-1]: (result["adapter_response"]["_message"],
                                                  result["adapter_response"]["rows_affected"])
        for result in results
        if result["unique_id"].rsplit(".", 1)[-1] in models
    }


def test_dbt_reports_the_rows_a_build_updated(rebuilt):
    """dbt printed INSERT 0 0 for a rollup whose rows a build had updated: the last of its
    statements. It reports the rows written: none after a quiet build, the agent-day and the two
    days (the workspace's and the platform's) that a run which failed after all changes. The
    spec's materialized views (tables refreshed by each build) said SELECT 1 whatever they
    wrote, which the worker added to a quiet build's "rows written"."""
    rebuilt.build(artifacts=True)
    assert rows_written(rebuilt) == {"daily_metrics": ("MERGE 0", 0), "agent_performance": ("MERGE 0", 0)}
    assert rows_written(rebuilt, REFRESHED_TABLES) == {name: ("SELECT 0", 0) for name in REFRESHED_TABLES}
    with rebuilt.connect() as conn:
        conn.execute(
            """
            update public.agent_runs set status = 'failed', error_type = 'timeout', updated_at = now()
            where id = (select id from public.agent_runs where status = 'completed'
                        and started_at < now() - interval '2 days' order by started_at desc limit 1)
            """
        )
    rebuilt.build(artifacts=True)
    assert rows_written(rebuilt) == {"daily_metrics": ("MERGE 2", 2), "agent_performance": ("MERGE 1", 1)}
    # the agent's success rate changed: its leaderboard row is deleted and inserted again
    assert rows_written(rebuilt, ("mv_top_agents",)) == {"mv_top_agents": ("SELECT 2", 2)}


# A data test of each kind of relation postgres__get_where_subquery tells apart, and what the
# scheduled build's run of it reads: since the earliest watermark where the app writes (a source
# and a staging view, meta arrival_column), the recent days of an incremental grain
# (tested_since), every row of a table that names neither.
DATA_TESTS_READ = {
    "source_not_null_analytics_user_activity_id": "ingested_at >= '",
    "not_null_stg_analytics__user_activity_event_id": "ingested_at >= '",
    "not_null_daily_metrics_metric_date": "metric_date >= (now() at time zone 'UTC')::date - ",
    "not_null_int_user_first_seen_id": None,
}


def compiled_test(project_db, name: str) -> str:
    paths = list((project_db.target_path / "run").rglob(f"{name}.sql"))
    assert len(paths) == 1, f"{name}: {paths}"
    return paths[0].read_text()


def test_the_scheduled_builds_data_tests_read_the_recent_rows_and_dbt_test_reads_every_row(rebuilt):
    """The scheduled build tests what it could have changed, so that its tests do not cost the
    whole history; `dbt test` tests every row."""
    selection = ("--select", *DATA_TESTS_READ)
    shutil.rmtree(rebuilt.target_path / "run", ignore_errors=True)  # no earlier build's SQL to read
    rebuilt.build(*selection)
    for name, recent in DATA_TESTS_READ.items():
        sql_text = compiled_test(rebuilt, name)
        if recent is None:
            assert "dbt_subquery" not in sql_text, name
        else:
            assert recent in sql_text, f"{name} under the scheduled build:\n{sql_text}"
    rebuilt.dbt("test", *selection)
    for name in DATA_TESTS_READ:
        assert "dbt_subquery" not in compiled_test(rebuilt, name), name


def test_the_sessions_builds_without_data_tests_leave_out_those_alone(rebuilt):
    """conftest's build(data_tests=False), which the session's first builds take, leaves out the
    data tests and nothing else; a build as the schedule runs it (the default) runs them. A build
    that does not ask for dbt's artifacts (conftest.WITHOUT_ARTIFACTS) leaves none behind."""

    def kinds() -> set[str]:
        results = json.loads((rebuilt.target_path / "run_results.json").read_text())["results"]
        return {result["unique_id"].split(".")[0] for result in results}

    rebuilt.build("--select", "daily_metrics", data_tests=False, artifacts=True)
    assert "model" in kinds() and "test" not in kinds()
    rebuilt.build("--select", "daily_metrics", artifacts=True)
    assert {"model", "test"} <= kinds()
    # and a build that does not ask for dbt's artifacts leaves none, not the last build's
    rebuilt.build("--select", "daily_metrics", data_tests=False)
    assert not [name for name in ARTIFACTS if (rebuilt.target_path / name).exists()]


def column_types(project_db, relation: str) -> list[tuple[str, str]]:
    return project_db.rows(
        "select attname, format_type(atttypid, atttypmod) from pg_attribute "
        "where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
        (f"analytics.{relation}",),
    )


@pytest.mark.parametrize(
    ("written", "changed_to", "error"),
    [
        # dbt's contract compares each column's name and type with the YAML before anything is written
        ("::integer as total_runs", "::bigint as total_runs", "This model has an enforced contract that failed"),
        ("::integer as total_runs", "::integer as runs_total", "This model has an enforced contract that failed"),
        # it does not compare precision; on_schema_change: fail compares it with the table's
        ("::{{ credit_sum_type() }} as total_credits", "::numeric(24, 4) as total_credits", "out of sync"),
    ],
    ids=["type", "name", "precision"],
)
def test_a_rollup_whose_sql_breaks_its_contract_fails_its_build_and_leaves_its_table(
    rebuilt, tmp_path, written, changed_to, error
):
    """docs/incremental.md, "The API tables' contract": a copy of the project whose hourly_metrics
    returns another type, name or precision than its YAML declares."""
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(PROJECT / "dbt_project.yml", copy)
    for folder in ("models", "macros", "seeds", "tests/dbt"):
        shutil.copytree(PROJECT / folder, copy / folder)
    # the model's SQL is the macro it shares with the live functions
    model = copy / "macros" / "rollups" / "hourly_metrics_rows.sql"
    assert written in model.read_text()
    model.write_text(model.read_text().replace(written, changed_to))
    rows, types = snapshot(rebuilt, "hourly_metrics"), column_types(rebuilt, "hourly_metrics")

    result = subprocess.run(
        [dbt.dbt_executable(), "run", "--select", "hourly_metrics", "--project-dir", str(copy),
         "--target-path", str(tmp_path / "target")],
        cwd=copy, env=dbt.dbt_environment(rebuilt.target), capture_output=True, text=True, check=False,
    )

    assert result.returncode == 1 and error in result.stdout, result.stdout[-4000:]
    assert snapshot(rebuilt, "hourly_metrics") == rows and column_types(rebuilt, "hourly_metrics") == types


def test_a_copy_of_the_database_under_another_name_runs_the_functions_the_build_made(rebuilt):
    """dbt names relations "database"."schema"."name"; a function body that kept the database's
    name failed in a copy under another name (CREATE DATABASE ... TEMPLATE, a restore) with
    "cross-database references are not implemented" until the next build."""
    copy = f"{rebuilt.target.dbname}_copy"
    with rebuilt.connect_as(cluster.ADMIN_USER) as conn:
        conn.autocommit = True
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(copy), sql.Identifier(rebuilt.target.dbname)))
    try:
        with db.connect(dataclasses.replace(rebuilt.target, dbname=copy)) as conn:
            named = conn.execute(
                "select p.oid::regprocedure::text from pg_proc as p "
                "where p.pronamespace in ('analytics'::regnamespace, 'analytics_internal'::regnamespace) "
                "and p.prosrc like %s", (f'%"{rebuilt.target.dbname}".%',)).fetchall()
            assert named == []
            # An event of this hour, so that the live part (today, from the raw rows) has rows to
            # compute: the data ends at the last full hour, and before about 10:00 UTC the tiny
            # data often has no row of today at all (always at 00:xx).
            conn.execute("insert into analytics.user_activity (user_id, workspace_id, event_type) "
                         "select user_id, workspace_id, 'page_view' from public.workspace_members limit 1")
            conn.execute("set role service_role")
            conn.execute("select analytics.refresh_all_materialized_views()")
            conn.execute("select analytics.aggregate_daily_metrics((now() at time zone 'UTC')::date - 1)")
            assert conn.execute("select count(*) from analytics.live_hourly_metrics()").fetchone()[0] > 0
            assert conn.execute("select count(*) from analytics.live_daily_metrics()").fetchone()[0] > 0
    finally:
        with rebuilt.connect_as(cluster.ADMIN_USER) as conn:
            conn.autocommit = True
            conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(copy)))
