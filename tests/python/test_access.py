"""Who can read and write what, acting as PostgREST does for anon and signed-in members."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest

import spec_schema
from conftest import acting_as


@pytest.fixture(scope="module")
def members(built):
    """A user in exactly one workspace and a user in two, with their workspaces."""
    rows = built.rows(
        "select user_id, array_agg(workspace_id order by workspace_id) from public.workspace_members group by 1"
    )
    one = next((user, set(spaces)) for user, spaces in rows if len(spaces) == 1)
    two = next(((user, set(spaces)) for user, spaces in rows if len(spaces) == 2), None)
    if two is None:  # make one: the generator's tiny scale may have none
        user, spaces = one
        other = built.value("select id from public.workspaces where id <> all(%s) limit 1", (list(spaces),))
        with built.connect() as conn:
            conn.execute(
                "insert into public.workspace_members (workspace_id, user_id, role) values (%s, %s, 'member')",
                (other, rows[-1][0]),
            )
        two = (rows[-1][0], set(rows[-1][1]) | {other})
    return {"one": one, "two": two}


# the spec's tables with RLS, and its materialized views, which are tables with RLS here
MEMBER_TABLES = [*spec_schema.RLS_TABLES, *spec_schema.MATERIALIZED_VIEW_COLUMNS]


@pytest.mark.parametrize("who", ["one", "two"])
@pytest.mark.parametrize("table", MEMBER_TABLES)
def test_member_sees_exactly_their_workspaces_rows(built, members, who, table):
    user_id, spaces = members[who]
    expected = built.value(f"select count(*) from analytics.{table} where workspace_id = any(%s)", (list(spaces),))
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        visible = conn.execute(f"select workspace_id from analytics.{table}").fetchall()
    assert len(visible) == expected
    assert {workspace for (workspace,) in visible} <= spaces


@pytest.mark.parametrize("table", MEMBER_TABLES)
def test_signed_in_user_of_no_workspace_sees_nothing(built, table):
    with built.api() as conn, acting_as(conn, "authenticated", uuid.uuid4()):
        assert conn.execute(f"select count(*) from analytics.{table}").fetchone()[0] == 0


def test_platform_rows_exist_but_members_never_see_them(built, members):
    assert built.value("select count(*) from analytics.daily_metrics where workspace_id is null") > 0
    user_id, _ = members["two"]
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        assert conn.execute("select count(*) from analytics.daily_metrics where workspace_id is null").fetchone()[0] == 0


@pytest.mark.parametrize("relation", MEMBER_TABLES)
def test_anon_is_refused_everything(built, relation):
    with built.api() as conn, acting_as(conn, "anon"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"select 1 from analytics.{relation} limit 1")


INTERNAL = [
    "analytics_internal.int_user_activity_hours", "analytics_internal.int_user_scope_days",
    "analytics_internal.int_sessions", "analytics_internal.int_cohort_activity",
    "analytics_internal.stg_app__agent_runs", "analytics_internal.build_watermarks",
]
NO_RLS = ["analytics.user_activity_default"]


@pytest.mark.parametrize(
    "role, relation",
    [*(("authenticated", relation) for relation in NO_RLS + INTERNAL),
     # service_role reads the partitions (it is the operators' role), not the internals
     *(("service_role", relation) for relation in INTERNAL)],
)
def test_api_roles_cannot_read_relations_without_rls(built, members, role, relation):
    user_id, _ = members["one"]
    with built.api() as conn, acting_as(conn, role, user_id):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"select 1 from {relation} limit 1")


@pytest.mark.parametrize("table", MEMBER_TABLES)
@pytest.mark.parametrize("statement", [
    "delete from analytics.{table}",
    "update analytics.{table} set workspace_id = workspace_id",
])
def test_members_cannot_write_any_table(built, members, table, statement):
    user_id, _ = members["one"]
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement.format(table=table))


@pytest.mark.parametrize("function", [
    "cleanup_old_data()", "refresh_all_materialized_views()", "aggregate_daily_metrics(current_date)",
    "ensure_user_activity_partitions(current_date, current_date)", "evaluate_alerts()", "refresh_live_metrics()",
])
@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_api_roles_cannot_run_maintenance(built, function, role):
    with built.api() as conn, acting_as(conn, role, uuid.uuid4()):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"select analytics.{function}")


def test_service_role_ingests_refreshes_and_reads_everything(built):
    user_id = built.value("select id from public.users limit 1")
    with built.api() as conn, acting_as(conn, "service_role"):
        conn.execute(
            "insert into analytics.user_activity (user_id, event_type) values (%s, 'page_view')", (user_id,)
        )
        conn.execute("select analytics.refresh_all_materialized_views()")
        total = conn.execute("select count(*) from analytics.daily_metrics").fetchone()[0]
    assert total == built.value("select count(*) from analytics.daily_metrics")


@pytest.mark.parametrize("statement", [
    "insert into public.workspaces (name, plan) values ('x', 'free')",
    "update public.agent_runs set status = status",
    "delete from public.users",
    "create table public.analytics_was_here (id int)",
    "truncate public.agent_runs",
])
def test_build_role_cannot_write_to_public(built, statement):
    with built.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("set local role analytics_builder")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_build_role_reads_the_app_only_through_the_deploys_views(built):
    with built.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("set local role analytics_builder")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from public.agent_runs")
    with built.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("set local role analytics_builder")
        seen = conn.execute("select count(*) from analytics_app.agent_runs").fetchone()[0]
    with built.connect_as("supabase_admin") as conn:
        stored = conn.execute("select count(*) from public.agent_runs").fetchone()[0]
    # the app's tables have RLS and no policy for the build role: the views still see every row
    assert built.value("select relrowsecurity from pg_class where oid = 'public.agent_runs'::regclass")
    assert seen == stored > 0


DEPLOYED_RELATIONS = re.compile(r"^(user_activity(_[pw]\d{8}|_default|_recent)?|alert_rules|alert_history|audit_log"
                                r"|alert_metrics|alert_rule_states|alert_notifications|webhook_secrets"
                                r"|alert_windows|alert_values|alert_outcomes|pipeline_runs|pipeline_model_runs|pipeline_status|pipeline_lag|build_taken_in|reporting_settings"
                                r"|track_event_limit|track_event_counts"
                                r"|deploy_steps|build_watermarks|build_cuts|live_snapshots|deleted_activity|run_keys|run_keys_mark|erased_users"
                                r"|users|workspaces|workspace_members|agents|agent_runs)$")


def test_the_build_role_owns_the_models_and_the_owner_everything_else(built):
    owners = built.rows(
        "select c.relname, pg_get_userbyid(c.relowner) from pg_class c "
        "where c.relnamespace in ('analytics'::regnamespace, 'analytics_internal'::regnamespace, "
        "'analytics_app'::regnamespace) and c.relkind in ('r', 'p', 'v', 'm')"
    )
    wrong = [(name, owner) for name, owner in owners
             if owner != ("postgres" if DEPLOYED_RELATIONS.match(name) else "analytics_builder")]
    assert wrong == []
    assert {owner for _, owner in owners} == {"postgres", "analytics_builder"}


def analytics_relations(built) -> list[tuple[str, bool]]:
    """Every table, view and materialized view in analytics (partitions included), and
    whether it has a workspace_id column."""
    return built.rows(
        """
        select c.relname, exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'workspace_id')
        from pg_class c where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('r', 'p', 'v', 'm')
        order by 1
        """
    )


# Relations without tenant data that members read whole: what an alert rule may watch.
CATALOGUES = {"alert_metrics"}


@pytest.mark.parametrize("caller", ["anon", "one", "two", "nobody"])
def test_matrix_every_relation_and_function_by_every_caller_and_action(built, members, caller):
    """Every visible row belongs to the caller's workspaces; every write is refused or touches nothing."""
    role = "anon" if caller == "anon" else "authenticated"
    user_id, spaces = members.get(caller, (uuid.uuid4(), set()))
    if caller == "anon":
        user_id = None
    relations = analytics_relations(built)
    functions = [name for (name,) in built.rows(
        "select p.proname from pg_proc p where p.pronamespace = 'analytics'::regnamespace and p.proretset"
    )]
    assert len(relations) > 20 and {"member_active_users", "member_workspace_ids"} <= set(functions)
    problems = []
    with built.api() as conn, acting_as(conn, role, user_id):
        for name, has_workspace in relations:
            column = "workspace_id" if has_workspace else "1"
            for action, statement in (
                ("select", f"select {column} from analytics.{name}"),
                ("insert", f"insert into analytics.{name} default values"),
                ("update", f"update analytics.{name} set {column if has_workspace else 'ctid = ctid'} = "
                           f"{column if has_workspace else 'ctid'}"),
                ("delete", f"delete from analytics.{name}"),
            ):
                try:
                    with conn.transaction():
                        cursor = conn.execute(statement)
                        if action == "select":
                            seen = {row[0] for row in cursor.fetchall()}
                            if has_workspace and not seen <= spaces:
                                problems.append(f"{name}: sees {seen - spaces}")
                            elif not has_workspace and seen and name not in CATALOGUES:
                                problems.append(f"{name}: rows without a workspace are visible")
                        elif cursor.rowcount:
                            problems.append(f"{name}: {action} touched {cursor.rowcount} rows")
                except psycopg.Error:
                    pass  # refused
        for function in functions:
            try:
                with conn.transaction():
                    if function == "member_workspace_ids":
                        seen = {row[0] for row in conn.execute(f"select analytics.{function}()").fetchall()}
                    else:
                        seen = {row[0] for row in conn.execute(f"select workspace_id from analytics.{function}()")}
                    if not seen <= spaces:
                        problems.append(f"{function}(): returns {seen - spaces}")
            except psycopg.Error:
                pass
    assert not problems, "\n".join(problems)
