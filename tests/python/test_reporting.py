"""The reporting role (deploy step reporting_role): the recipe of docs/security.md, "A role for an
internal dashboard", run as written: a BI tool's login granted analytics_reporting reads every
row of the rollups and the materialized views, the platform's included, and nothing raw."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

ROLLUPS = ("daily_metrics", "hourly_metrics", "agent_performance", "user_cohorts")
VIEWS = ("mv_active_users", "mv_top_agents", "mv_workspace_summary")


@pytest.fixture(scope="module")
def bi_login(built) -> Iterator[psycopg.Connection]:
    """The recipe, by the deploying owner (no superuser, as on Supabase)."""
    name = f"bi_tool_{os.getpid()}"
    with built.connect() as conn:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
        conn.execute(sql.SQL("grant analytics_reporting to {}").format(sql.Identifier(name)))
    try:
        with built.connect_as(name) as login:
            yield login
    finally:
        with built.connect() as conn:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


@pytest.mark.parametrize("relation", ROLLUPS + VIEWS)
def test_the_reporting_login_reads_every_row_of_the_figures(built, bi_login, relation):
    expected = built.value(f"select count(*) from analytics.{relation}")
    assert expected > 0
    assert bi_login.execute(f"select count(*) from analytics.{relation}").fetchone()[0] == expected


@pytest.mark.parametrize("relation", ROLLUPS)
def test_the_reporting_login_reads_the_platform_rows(built, bi_login, relation):
    platform = bi_login.execute(f"select count(*) from analytics.{relation} where workspace_id is null").fetchone()[0]
    if relation == "agent_performance":  # one row per agent: no platform row
        assert platform == 0
    else:
        assert platform == built.value(f"select count(*) from analytics.{relation} where workspace_id is null") > 0


@pytest.mark.parametrize("statement", [
    "select * from analytics.user_activity limit 1",
    "select * from analytics.alert_rules limit 1",
    "select * from analytics.alert_notifications limit 1",
    "select * from analytics_internal.int_user_first_seen limit 1",
    "select * from analytics_app.users limit 1",
    "select * from public.users limit 1",
    "insert into analytics.daily_metrics (metric_date) values (current_date)",
    "update analytics.daily_metrics set active_users = 0",
    "delete from analytics.hourly_metrics",
    "select analytics.refresh_all_materialized_views()",
    "select analytics.cleanup_old_data()",
    "create table analytics.planted (id int)",
])
def test_the_reporting_login_reads_nothing_raw_and_changes_nothing(bi_login, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with bi_login.transaction():
            bi_login.execute(statement)


def test_a_bi_tools_table_picker_shows_the_figures_and_not_the_partitions(bi_login):
    """information_schema lists what the role has a privilege on: the event table's ~100 daily
    partitions are no BI tool's business."""
    listed = {name for (name,) in bi_login.execute(
        "select table_name from information_schema.tables where table_schema = 'analytics'")}
    # the spec's materialized views are tables here, so a picker lists them with the rollups
    assert set(ROLLUPS) | set(VIEWS) <= listed
    assert not [name for name in listed if name.startswith("user_activity")]
