"""The spec's functions work (F1-F3, S12) and the updated_at trigger fires (S10)."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql


def test_calculate_percentiles_gives_continuous_percentiles(built):
    result = built.value("select analytics.calculate_percentiles('{1,2,3,4,5}', '{0.5,0.95,0.99}')")
    assert result == [Decimal("3"), Decimal("4.8"), Decimal("4.96")]


def test_calculate_percentiles_of_no_values_is_null_per_percentile(built):
    assert built.value("select analytics.calculate_percentiles('{}', '{0.5,0.9}')") == [None, None]


def test_calculate_percentiles_ignores_nulls_and_keeps_percentile_order(built):
    result = built.value("select analytics.calculate_percentiles('{10,null,20,30}', '{1,0,0.5}')")
    assert result == [Decimal("30"), Decimal("10"), Decimal("20")]


def test_calculate_percentiles_of_many_values_and_percentiles_matches_python(built):
    """Thousands of each, as a member may send (the values sorted once for all of them), with a
    NULL percentile, which gives NULL in its place; no percentiles give NULL."""
    rng = random.Random(7)
    values = [Decimal(rng.randrange(-10**6, 10**6)) / 1000 for _ in range(3000)]
    percentiles = [Decimal(rng.randrange(0, 10**4)) / 10**4 for _ in range(2000)] + [Decimal(0), Decimal(1), None]
    ordered = sorted(float(v) for v in values)

    def continuous(p: Decimal) -> float:
        position = float(p) * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (position - low) * (ordered[high] - ordered[low])

    with built.connect() as conn:
        conn.execute("set role authenticated")
        result = conn.execute("select analytics.calculate_percentiles(%s::numeric[], %s::numeric[])",
                              (values, percentiles)).fetchone()[0]
        assert conn.execute("select analytics.calculate_percentiles('{1,2}', '{}')").fetchone()[0] is None
    assert len(result) == len(percentiles) and result[-1] is None
    assert all(math.isclose(float(got), continuous(p), rel_tol=1e-12, abs_tol=1e-9)
               for got, p in zip(result[:-1], percentiles[:-1]))


def daily_rows(conn, day) -> list[tuple]:
    columns = ", ".join(c for c in spec_schema_columns("daily_metrics") if c not in ("created_at", "updated_at"))
    return conn.execute(f"select {columns} from analytics.daily_metrics where metric_date = %s order by id", (day,)).fetchall()


def spec_schema_columns(table: str) -> list[str]:
    import spec_schema

    return [name for name, *_ in spec_schema.COLUMNS[table]]


def test_aggregate_daily_metrics_writes_the_models_rows_whatever_the_timezone(built):
    with built.connect() as conn, conn.transaction(force_rollback=True):
        day = conn.execute(
            "select metric_date from analytics.daily_metrics group by 1 order by count(*) desc, 1 limit 1"
        ).fetchone()[0]
        expected = daily_rows(conn, day)
        conn.execute("delete from analytics.daily_metrics where metric_date = %s", (day,))
        conn.execute("set local timezone = 'Asia/Tokyo'")
        conn.execute("set local role service_role")
        conn.execute("select analytics.aggregate_daily_metrics(%s)", (day,))
        actual = daily_rows(conn, day)
    assert len(expected) > 1
    assert actual == expected


def test_aggregate_daily_metrics_for_one_workspace_touches_only_its_row(built):
    with built.connect() as conn, conn.transaction(force_rollback=True):
        day, workspace_id = conn.execute(
            "select metric_date, workspace_id from analytics.daily_metrics where workspace_id is not null limit 1"
        ).fetchone()
        conn.execute("update analytics.daily_metrics set total_runs = total_runs + 1000 where metric_date = %s", (day,))
        conn.execute("select analytics.aggregate_daily_metrics(%s, %s)", (day, workspace_id))
        inflated = conn.execute(
            "select workspace_id, total_runs >= 1000 from analytics.daily_metrics where metric_date = %s", (day,)
        ).fetchall()
    assert {ws: big for ws, big in inflated} == {ws: ws != workspace_id for ws, _ in inflated}


def test_aggregate_daily_metrics_twice_keeps_one_platform_row(built):
    with built.connect() as conn, conn.transaction(force_rollback=True):
        day = conn.execute("select max(metric_date) from analytics.daily_metrics").fetchone()[0]
        for _ in range(3):
            conn.execute("select analytics.aggregate_daily_metrics(%s)", (day,))
        platform_rows = conn.execute(
            "select count(*) from analytics.daily_metrics where metric_date = %s and workspace_id is null", (day,)
        ).fetchone()[0]
    assert platform_rows == 1


@pytest.mark.parametrize("table", ["daily_metrics", "agent_performance", "user_cohorts"])
def test_updated_at_moves_when_a_rollup_row_changes(built, table):
    with built.connect() as conn, conn.transaction(force_rollback=True):
        row_id, before = conn.execute(f"select id, updated_at from analytics.{table} limit 1").fetchone()
        after = conn.execute(
            f"update analytics.{table} set created_at = created_at where id = %s returning updated_at", (row_id,)
        ).fetchone()[0]
        now = conn.execute("select now()").fetchone()[0]
    assert before < after == now


def test_updated_at_moves_when_an_alert_rule_changes(built):
    with built.connect() as conn, conn.transaction(force_rollback=True):
        workspace_id = conn.execute("select id from public.workspaces limit 1").fetchone()[0]
        rule_id = conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, updated_at) "
            "values (%s, 'r', 'error_rate', 'greater_than', 1, '2000-01-01') returning id",
            (workspace_id,),
        ).fetchone()[0]
        updated = conn.execute(
            "update analytics.alert_rules set threshold_value = 2 where id = %s returning updated_at", (rule_id,)
        ).fetchone()[0]
    assert updated.year > 2000


def _partitions(conn: psycopg.Connection) -> set[str]:
    return {
        name for (name,) in conn.execute(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = 'analytics.user_activity'::regclass"
        ).fetchall()
    }


def _week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def test_cleanup_old_data_drops_whole_weeks_past_90_days_and_keeps_the_week_that_straddles(built):
    user_id, workspace_id = built.rows("select user_id, workspace_id from public.workspace_members limit 1")[0]
    today = datetime.now(UTC).date()
    with built.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("select analytics.ensure_user_activity_partitions(%s, %s)", (today - timedelta(days=130), today))
        first_kept_day = conn.execute(
            "select ((now() - interval '90 days') at time zone 'UTC')::date"
        ).fetchone()[0]
        events = {}
        for days_ago in (120, 100, 97, 95, 93, 91, 89, 10):
            event_id, created_at = conn.execute(
                "insert into analytics.user_activity (user_id, workspace_id, event_type, created_at) "
                "values (%s, %s, 'login', now() - make_interval(days => %s)) returning id, created_at",
                (user_id, workspace_id, days_ago),
            ).fetchone()
            events[event_id] = created_at
        conn.execute(
            "insert into analytics.hourly_metrics (id, metric_hour, workspace_id, created_at) "
            "values (gen_random_uuid(), date_trunc('hour', now()) - interval '40 days', %s, now())",
            (workspace_id,),
        )
        conn.execute("set local role service_role")
        conn.execute("select analytics.cleanup_old_data()")
        conn.execute("reset role")
        partitions = _partitions(conn)
        kept = {
            event_id for (event_id,) in conn.execute(
                "select id from analytics.user_activity where id = any(%s)", (list(events),)
            ).fetchall()
        }
        old_hourly = conn.execute(
            "select count(*) from analytics.hourly_metrics where metric_hour < now() - interval '30 days'"
        ).fetchone()[0]
    # An event goes with its week, and a week only once all of it is past the 90 days.
    expected = {
        event_id for event_id, created_at in events.items()
        if _week_of(created_at.astimezone(UTC).date()) + timedelta(days=7) > first_kept_day
    }
    assert kept == expected
    assert len(kept) < len(events), "the oldest events were dropped"
    assert all(created_at.astimezone(UTC).date() >= first_kept_day - timedelta(days=6)
               for event_id, created_at in events.items() if event_id in kept), "kept at most 97 days"
    weeks = {datetime.strptime(name[-8:], "%Y%m%d").date() for name in partitions if name.startswith("user_activity_w")}
    assert _week_of(first_kept_day) in weeks, "the week that straddles the cut-off is kept whole"
    assert all(week + timedelta(days=7) > first_kept_day for week in weeks), "every week past retention is dropped"
    assert old_hourly == 0


def test_day_partitions_of_an_earlier_version_are_kept_and_their_week_filled_with_days(built):
    """A database deployed when partitions were daily: a week that has some day partitions gets
    day partitions for its other days (a week partition would overlap them), later weeks get
    week partitions, and retention drops old day partitions by their day."""
    monday = _week_of(datetime.now(UTC).date() + timedelta(days=250))  # no partition yet, within a year
    old_day = datetime.now(UTC).date() - timedelta(days=400)
    with built.connect() as conn, conn.transaction(force_rollback=True):
        for day in (monday + timedelta(days=2), old_day):
            conn.execute(sql.SQL(
                "create table analytics.{} partition of analytics.user_activity for values from ({}) to ({})"
            ).format(sql.Identifier(f"user_activity_p{day:%Y%m%d}"), sql.Literal(f"{day} 00:00+00"),
                     sql.Literal(f"{day + timedelta(days=1)} 00:00+00")))
        created = conn.execute(
            "select analytics.ensure_user_activity_partitions(%s, %s)", (monday, monday + timedelta(days=9))
        ).fetchone()[0]
        partitions = _partitions(conn)
        conn.execute("set local role service_role")
        conn.execute("select analytics.cleanup_old_data()")
        conn.execute("reset role")
        after_cleanup = _partitions(conn)
    days = {f"user_activity_p{monday + timedelta(days=offset):%Y%m%d}" for offset in range(7)}
    assert days <= partitions
    assert f"user_activity_w{monday:%Y%m%d}" not in partitions
    assert f"user_activity_w{monday + timedelta(days=7):%Y%m%d}" in partitions
    assert created == 6 + 1
    assert f"user_activity_p{old_day:%Y%m%d}" not in after_cleanup
    assert days <= after_cleanup


def test_event_far_outside_partitions_is_stored_and_moves_into_its_partition(built):
    user_id = built.value("select id from public.users limit 1")
    ahead = datetime.now(UTC).date() + timedelta(days=300)  # no partition yet, within a year
    with built.connect() as conn, conn.transaction(force_rollback=True):
        for moment in (f"{ahead} 12:00+00", "1990-06-01 00:00+00"):
            conn.execute(
                "insert into analytics.user_activity (user_id, event_type, created_at) values (%s, 'login', %s)",
                (user_id, moment),
            )
        in_default = conn.execute("select count(*) from analytics.user_activity_default").fetchone()[0]
        conn.execute("select analytics.ensure_user_activity_partitions(%s, %s)", (ahead, ahead))
        moved = conn.execute(sql.SQL("select count(*) from analytics.{}").format(
            sql.Identifier(f"user_activity_w{_week_of(ahead):%Y%m%d}"))).fetchone()[0]
        left = conn.execute("select count(*) from analytics.user_activity_default").fetchone()[0]
    assert (in_default, moved, left) == (2, 1, 1)


@pytest.mark.parametrize("zone, datestyle", [("Asia/Shanghai", "SQL, DMY"), ("Asia/Kolkata", "Postgres"),
                                             ("America/Los_Angeles", "German")])
def test_ensure_partitions_makes_utc_weeks_whatever_the_callers_date_settings(built, zone, datestyle):
    """The bounds go into the DDL as text, which a caller's DateStyle wrote with a zone
    abbreviation (CST) read back as another zone: the week came out hours off."""
    ahead = _week_of(datetime.now(UTC).date() + timedelta(days=200))
    with built.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("set local role service_role")
        conn.execute(sql.SQL("set local timezone = {}").format(sql.Literal(zone)))
        conn.execute(sql.SQL("set local datestyle = {}").format(sql.Literal(datestyle)))
        conn.execute("select analytics.ensure_user_activity_partitions(%s, %s)", (ahead, ahead))
        conn.execute("reset role")
        conn.execute("set local timezone = 'UTC'")
        conn.execute("set local datestyle = 'ISO'")
        bound = conn.execute(
            "select pg_get_expr(relpartbound, oid) from pg_class where oid = %s::regclass",
            (f"analytics.user_activity_w{ahead:%Y%m%d}",)).fetchone()[0]
    assert bound == f"FOR VALUES FROM ('{ahead} 00:00:00+00') TO ('{ahead + timedelta(days=7)} 00:00:00+00')"


def test_ensure_partitions_refuses_weeks_more_than_a_year_ahead(built):
    """Retention drops old weeks only: weeks made far ahead would stay, each one more for the
    event queries to plan and the app's writes to route."""
    with built.connect() as conn, pytest.raises(psycopg.errors.RaiseException, match="more than 366 days ahead"):
        conn.execute("select analytics.ensure_user_activity_partitions('2102-01-01', '2102-01-01')")


@pytest.mark.parametrize("first_day, last_day", [
    ("-infinity", "2026-01-01"), ("2026-01-01", "infinity"), ("9999-12-30", "10000-01-05"), ("0001-01-01 BC", "0001-01-03"),
])
def test_ensure_partitions_rejects_days_a_partition_name_cannot_carry(built, first_day, last_day):
    with built.connect() as conn, pytest.raises(psycopg.errors.RaiseException, match="within the years 1 to 9999"):
        conn.execute("select analytics.ensure_user_activity_partitions(%s, %s)", (first_day, last_day))


def test_ensure_partitions_rejects_a_backwards_range(built):
    with built.connect() as conn, pytest.raises(psycopg.errors.RaiseException, match="first_day <= last_day"):
        conn.execute("select analytics.ensure_user_activity_partitions('2026-02-01', '2026-01-01')")


def test_app_can_delete_a_user_and_a_workspace_that_have_analytics_rows(built):
    with built.connect() as conn, conn.transaction(force_rollback=True):
        user_id = conn.execute(
            "select user_id from analytics.user_activity group by 1 order by count(*) desc limit 1"
        ).fetchone()[0]
        workspace_id = conn.execute(
            "select workspace_id from analytics.daily_metrics where workspace_id is not null limit 1"
        ).fetchone()[0]
        conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, created_by) "
            "values (%s, 'r', 'error_rate', 'greater_than', 1, %s)",
            (workspace_id, user_id),
        )
        conn.execute("delete from public.users where id = %s", (user_id,))
        conn.execute("delete from public.workspaces where id = %s", (workspace_id,))
        left = conn.execute(
            "select (select count(*) from analytics.user_activity where user_id = %(u)s), "
            "(select count(*) from analytics.daily_metrics where workspace_id = %(w)s), "
            "(select count(*) from analytics.alert_rules where workspace_id = %(w)s)",
            {"u": user_id, "w": workspace_id},
        ).fetchone()
    assert left == (0, 0, 0)
