"""The relations a BI tool charts as they are (docs/bi.md): each equals the independent
computation from the raw rows after a full build and after incremental builds that take in late
events, changed runs and deletions; members read their workspaces' rows only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

import oracle
from conftest import acting_as
from test_metrics import (
    add_a_lone_day,
    add_awkward_changes,
    build_day,
    compare,
    delete_the_day,
    rows_before,
    table,
)

RAW_EVENT_RETENTION_DAYS = 90  # dbt_project.yml


def check_bi_relations(project_db) -> None:
    today = datetime.now(UTC).date()
    with project_db.connect() as conn:
        raw = oracle.load(conn)
        compare(table(conn, "model_usage_daily", ("metric_date", "workspace_id", "model")),
                oracle.model_usage_daily(raw), "model_usage_daily")
        since = today - timedelta(days=RAW_EVENT_RETENTION_DAYS)
        built = {key: row for key, row in
                 table(conn, "event_usage_daily", ("metric_date", "workspace_id", "event_type", "event_name")).items()
                 if key[0] >= since}
        compare(built, oracle.event_usage_daily(raw, since), "event_usage_daily")
        compare(table(conn, "errors_daily", ("metric_date", "workspace_id", "error_type")),
                {(day, scope, error_type): {"errors": count}
                 for (day, scope), row in oracle.daily_metrics(raw).items()
                 for error_type, count in row["errors_by_type"].items()}, "errors_daily")
        compare(table(conn, "retention_curves", ("cohort_period", "cohort_date", "workspace_id", "period_offset")),
                {(period, cohort_date, scope, int(key.split("_")[1])): {
                    "cohort_users": row["initial_users"], "retention_percent": value,
                    "scope": "platform" if scope is None else "workspace"}
                 for (period, cohort_date, scope), row in oracle.user_cohorts(raw, today - timedelta(days=1)).items()
                 for key, value in row["retention_data"].items()}, "retention_curves")
        compare(table(conn, "active_users_daily", ("activity_date", "workspace_id")),
                oracle.mv_active_users(raw, today, days_back=None), "active_users_daily")
        compare(table(conn, "activation_funnel", ("cohort_period", "cohort_date", "workspace_id")),
                oracle.activation_funnel(raw, today - timedelta(days=1)), "activation_funnel")
        compare(table(conn, "workspace_plans", ("workspace_id",)),
                {(w["id"],): {"workspace_name": w["name"], "plan": w["plan"]} for w in raw.workspaces},
                "workspace_plans")


@pytest.fixture(scope="module")
def project(make_database):
    return make_database(seed=31)


def test_the_bi_relations_equal_the_raw_rows_after_a_full_build(project):
    project.build()
    check_bi_relations(project)


def test_they_still_do_after_late_events_changed_runs_and_deletions(project):
    add_awkward_changes(project)
    project.build()
    check_bi_relations(project)
    with project.connect() as conn:
        conn.execute("delete from public.agent_runs where id in (select id from public.agent_runs "
                     "order by started_at desc limit 3)")
        conn.execute("delete from analytics.user_activity where id in (select id from analytics.user_activity "
                     "order by created_at desc limit 5)")
    project.build()
    check_bi_relations(project)


def test_a_day_whose_runs_were_all_deleted_keeps_no_model_rows(project):
    with project.connect() as conn:
        day = conn.execute("select metric_date from analytics.model_usage_daily where workspace_id is null "
                           "order by metric_date desc limit 1").fetchone()[0]
        conn.execute("delete from public.agent_runs where (started_at at time zone 'UTC')::date = %s", (day,))
    project.build()
    with project.connect() as conn:
        assert conn.execute("select count(*) from analytics.model_usage_daily where metric_date = %s",
                            (day,)).fetchone()[0] == 0
    check_bi_relations(project)


def test_days_that_only_a_deleted_day_counted_keep_no_row(project):
    """A day's events and runs deleted, and nobody else active in the 30 days from it: its own
    rows go, and so do the active users of the days after it, which counted it alone."""
    first, lone = add_a_lone_day(project, days_before_the_first=10)
    project.build(data_tests=False)
    relations = (("analytics.active_users_daily", "activity_date"), ("analytics.model_usage_daily", "metric_date"),
                 ("analytics.event_usage_daily", "metric_date"), ("analytics.errors_daily", "metric_date"))
    assert all(rows_before(project, relations, first).values())
    assert all(delete_the_day(project, lone).values())
    project.build()
    check_bi_relations(project)
    assert rows_before(project, relations, first) == {relation: 0 for relation, _ in relations}


def test_a_second_build_changes_nothing(project):
    with project.connect() as conn:
        before = conn.execute("select max(updated_at) from analytics.model_usage_daily").fetchone()[0]
    project.build()
    with project.connect() as conn:
        assert conn.execute("select max(updated_at) from analytics.model_usage_daily").fetchone()[0] == before


def test_a_day_keeps_its_first_hundred_event_names_and_counts_the_rest_together(project):
    """Callers choose event names, and one user sending new names without end would add keys
    without end. A day, workspace (and the platform) and type keeps 100 names; the rest count in
    one row, '(other names)', where a real name equal to that label counts too."""
    with project.connect() as conn:
        user_id, workspace_id = conn.execute(
            "select user_id, workspace_id from public.workspace_members order by user_id limit 1").fetchone()
        conn.execute(
            "insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, created_at) "
            "select %s, %s, 'export', name, now() - interval '1 minute' from (values ('(other names)')) as label (name) "
            "union all select %s, %s, 'export', 'name-' || lpad(n::text, 3, '0'), now() - interval '1 minute' "
            "from generate_series(1, 130) as n, generate_series(1, 1 + n %% 4) as copies",
            (user_id, workspace_id, user_id, workspace_id))
    project.build()
    check_bi_relations(project)
    with project.connect() as conn:
        for scope in (workspace_id, None):
            names, other = conn.execute(
                "select count(*), sum(events) filter (where event_name = '(other names)') "
                "from analytics.event_usage_daily where metric_date = (now() at time zone 'UTC')::date "
                "and workspace_id is not distinct from %s and event_type = 'export'", (scope,)).fetchone()
            assert names == 101 and other > 0, (scope, names, other)


@pytest.mark.parametrize("relation", ["model_usage_daily", "event_usage_daily", "active_users_daily", "errors_daily",
                                      "retention_curves",
                                      "model_costs_daily", "workspace_plans", "activation_funnel"])
def test_a_member_reads_their_workspaces_rows_only(project, relation):
    with project.connect() as conn:
        user_id = conn.execute("select user_id from public.workspace_members order by user_id limit 1").fetchone()[0]
        theirs = {w for (w,) in conn.execute(
            "select workspace_id from public.workspace_members where user_id = %s", (user_id,))}
        expected = conn.execute(
            f"select count(*) from analytics.{relation} where workspace_id = any(%s)", (list(theirs),)).fetchone()[0]
    with project.api() as conn, acting_as(conn, "authenticated", user_id):
        seen = conn.execute(f"select workspace_id, count(*) from analytics.{relation} group by 1").fetchall()
    assert {workspace for workspace, _ in seen} <= theirs
    assert sum(count for _, count in seen) == expected > 0


def test_the_money_follows_the_price_stored_in_the_database_without_a_build(project):
    with project.api() as conn:
        with acting_as(conn, "service_role", commit=True):
            conn.execute("select analytics.set_credit_price_usd(0.25)")
        with acting_as(conn, "service_role"):
            rows = conn.execute("select total_credits, total_cost_usd from analytics.model_costs_daily").fetchall()
    assert rows and all(cost == oracle.rounded(credits * Decimal("0.25")) for credits, cost in rows)
    with project.connect() as conn:
        assert conn.execute("select action, details ->> 'price' from analytics.audit_log "
                            "where action = 'set_credit_price_usd' order by id desc limit 1").fetchone() == (
            "set_credit_price_usd", "0.25")


def test_the_cohorts_revenue_follows_the_stored_price_at_the_next_build(project):
    with project.api() as conn, acting_as(conn, "service_role", commit=True):
        conn.execute("select analytics.set_credit_price_usd(0.25)")
    project.build()
    with project.connect() as conn:
        today = build_day(conn)
        raw = oracle.load(conn)
        built = table(conn, "user_cohorts", ("cohort_period", "cohort_date", "workspace_id"))
    assert any(row["avg_revenue_per_user"] > 0 for row in built.values())
    compare(built, oracle.user_cohorts(raw, today - timedelta(days=1), credit_price=Decimal("0.25")), "user_cohorts")


@pytest.mark.parametrize("price", ["-1", "1001", "null"])
def test_a_price_out_of_range_is_refused_by_name_and_the_stored_one_kept(project, price):
    with project.api() as conn:
        with acting_as(conn, "service_role"):
            before = conn.execute("select analytics.credit_price_usd()").fetchone()[0]
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="price of a credit must be from 0 to 1000"):
            with acting_as(conn, "service_role"):
                conn.execute(f"select analytics.set_credit_price_usd({price})")
        with acting_as(conn, "service_role"):
            assert conn.execute("select analytics.credit_price_usd()").fetchone()[0] == before


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_only_the_service_role_sets_the_price(project, role):
    with project.connect() as conn:
        user_id = conn.execute("select user_id from public.workspace_members limit 1").fetchone()[0]
    with project.api() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        with acting_as(conn, role, user_id if role == "authenticated" else None):
            conn.execute("select analytics.set_credit_price_usd(1)")
