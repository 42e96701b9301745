"""After dbt build, pg_catalog holds every object of the spec (with the documented deviations)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import spec_schema


@pytest.mark.parametrize("table", sorted(spec_schema.COLUMNS))
def test_table_has_the_spec_columns_types_and_defaults(built, table):
    actual = built.rows(
        """
        select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef
        from pg_attribute as a
        where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped
        order by a.attnum
        """,
        (f"analytics.{table}",),
    )
    assert sorted(actual) == sorted(spec_schema.COLUMNS[table])


@pytest.mark.parametrize("table", sorted(spec_schema.CONSTRAINTS))
def test_table_has_the_spec_constraints(built, table):
    actual = dict(
        (name, (kind, definition))
        for name, kind, definition in built.rows(
            "select conname, contype::text, pg_get_constraintdef(oid) from pg_constraint where conrelid = %s::regclass",
            (f"analytics.{table}",),
        )
    )
    for name, (kind, fragment) in spec_schema.CONSTRAINTS[table].items():
        assert name in actual, f"{table} lacks constraint {name}"
        assert actual[name][0] == kind
        assert fragment in actual[name][1], f"{name}: {actual[name][1]}"


@pytest.mark.parametrize("table", sorted(spec_schema.INDEXES))
def test_table_has_the_spec_indexes(built, table):
    actual = dict(
        built.rows("select indexname, indexdef from pg_indexes where schemaname = 'analytics' and tablename = %s", (table,))
    )
    for name, fragment in spec_schema.INDEXES[table].items():
        assert name in actual, f"{table} lacks index {name}; has {sorted(actual)}"
        assert fragment in actual[name], f"{name}: {actual[name]}"


def test_the_spec_indexes_that_another_serves_are_not_made(built):
    present = {name for (name,) in built.rows("select indexname from pg_indexes where schemaname = 'analytics'")}
    assert present.isdisjoint(spec_schema.DROPPED_INDEXES)


def test_no_btree_index_is_led_by_another_index_of_its_table(built):
    """A plain btree whose key columns lead another btree's (same order, or all reversed) is
    served by that one and only costs writes and space."""
    indexes = built.rows(
        """
        select c.relname, i.indrelid, i.indisunique,
               array(select k::int from unnest(i.indkey[0:i.indnkeyatts - 1]) as k),
               array(select (o & 1)::int from unnest(i.indoption::int2[]) as o),
               i.indpred is null and i.indexprs is null
        from pg_index as i
        join pg_class as c on c.oid = i.indexrelid
        join pg_am as am on am.oid = c.relam
        where c.relnamespace = any (array['analytics'::regnamespace, 'analytics_internal'::regnamespace])
          and am.amname = 'btree' and not c.relispartition
        """
    )
    covered = []
    for name, table, unique, columns, directions, plain in indexes:
        if unique or not plain:
            continue
        for other, other_table, _, other_columns, other_directions, other_plain in indexes:
            width = len(columns)
            if other == name or other_table != table or not other_plain or other_columns[:width] != columns:
                continue
            if directions in (other_directions[:width], [1 - d for d in other_directions[:width]]):
                covered.append((name, other))
    assert covered == []


def test_user_activity_is_partitioned_by_created_at_with_weekly_partitions(built):
    strategy, key = built.rows(
        "select partstrat::text, pg_get_partkeydef(partrelid) from pg_partitioned_table "
        "where partrelid = 'analytics.user_activity'::regclass"
    )[0]
    assert (strategy, key) == ("r", "RANGE (created_at)")
    bounds = dict(built.rows(
        "select c.relname, pg_get_expr(c.relpartbound, c.oid) from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = 'analytics.user_activity'::regclass"
    ))
    assert bounds.pop("user_activity_default") == "DEFAULT"
    for name, bound in bounds.items():
        monday = datetime.strptime(name.removeprefix("user_activity_w"), "%Y%m%d").date()
        assert monday.isoweekday() == 1, name
        assert bound == (f"FOR VALUES FROM ('{monday} 00:00:00+00') TO ('{monday + timedelta(days=7)} 00:00:00+00')"), name
    week_ahead = built.value(
        "select to_char(date_trunc('week', ((now() at time zone 'UTC')::date + 7)::timestamp), 'YYYYMMDD')"
    )
    assert f"user_activity_w{week_ahead}" in bounds, "partitions are created a week ahead"


@pytest.mark.parametrize("view", sorted(spec_schema.MATERIALIZED_VIEW_COLUMNS))
def test_materialized_view_exists_as_a_filled_table_with_rls_and_spec_columns(built, view):
    # a table with RLS in place of the spec's materialized view (docs/spec-deviations.md)
    kind, rls = built.rows("select relkind::text, relrowsecurity from pg_class where oid = %s::regclass",
                           (f"analytics.{view}",))[0]
    assert (kind, rls) == ("r", True)
    assert built.value(f"select count(*) from analytics.{view}") > 0
    columns = [
        name for (name,) in built.rows(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 order by attnum",
            (f"analytics.{view}",),
        )
    ]
    assert columns == spec_schema.MATERIALIZED_VIEW_COLUMNS[view]


@pytest.mark.parametrize("function", sorted(spec_schema.FUNCTIONS))
def test_function_exists_with_pinned_search_path(built, function):
    rows = built.rows(
        """
        select pg_get_function_arguments(p.oid), coalesce(array_to_string(p.proconfig, ','), '')
        from pg_proc p where p.pronamespace = 'analytics'::regnamespace and p.proname = %s
        """,
        (function,),
    )
    assert len(rows) == 1, f"{function}: {rows}"
    arguments, config = rows[0]
    assert arguments == spec_schema.FUNCTIONS[function]
    assert "search_path=" in config


@pytest.mark.parametrize("table, trigger", sorted(spec_schema.UPDATED_AT_TRIGGERS.items()))
def test_every_table_with_updated_at_has_its_trigger(built, table, trigger):
    rows = built.rows(
        "select tgname, tgfoid::regproc::text from pg_trigger where tgrelid = %s::regclass and not tgisinternal",
        (f"analytics.{table}",),
    )
    assert (trigger, "analytics.update_updated_at") in rows


def test_every_table_with_an_updated_at_column_is_covered(built):
    with_column = {
        name for (name,) in built.rows(
            "select c.relname from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('r', 'p') and a.attname = 'updated_at'"
        )
    }
    assert with_column == set(spec_schema.UPDATED_AT_TRIGGERS)


@pytest.mark.parametrize("table", spec_schema.RLS_TABLES)
def test_rls_is_on_with_one_select_policy_for_authenticated(built, table):
    assert built.value("select relrowsecurity from pg_class where oid = %s::regclass", (f"analytics.{table}",))
    policies = built.rows(
        "select cmd, roles::text[], qual from pg_policies where schemaname = 'analytics' and tablename = %s "
        "order by policyname desc", (table,)
    )
    if table in ("user_activity", "alert_rules", "alert_history"):
        # the build reads these whole: it is not their owner, and RLS would show it no rows
        assert policies.pop() == ("SELECT", ["analytics_builder"], "true")
    if table in ("daily_metrics", "hourly_metrics", "agent_performance", "user_cohorts"):
        # the reporting role reads every row of the figures (docs/security.md)
        assert policies.pop() == ("SELECT", ["analytics_reporting"], "true")
    assert len(policies) == 1
    command, roles, qual = policies[0]
    assert (command, roles) == ("SELECT", ["authenticated"])
    assert "member_workspace_ids()" in qual and "ARRAY(" in qual


def test_every_table_with_workspace_id_has_rls(built):
    unprotected = built.rows(
        """
        select c.relname from pg_class c join pg_attribute a on a.attrelid = c.oid
        where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('r', 'p')
          and a.attname = 'workspace_id' and not c.relrowsecurity and not c.relispartition
        """
    )
    assert unprotected == []


@pytest.mark.parametrize(("index", "definition"), [
    ("idx_alert_history_open",
     "ON analytics.alert_history USING btree (workspace_id, triggered_at DESC) WHERE (acknowledged_at IS NULL)"),
    ("idx_mv_active_users_workspace", "ON analytics.mv_active_users USING btree (workspace_id, activity_date)"),
])
def test_the_member_queries_have_their_indexes_beyond_the_spec(built, index, definition):
    """A dashboard's open alerts and member_active_users() filter by workspace first
    (docs/spec-deviations.md); without these they walk whole histories."""
    found = built.value("select indexdef from pg_indexes where schemaname = 'analytics' and indexname = %s", (index,))
    assert found is not None and definition in found, found
