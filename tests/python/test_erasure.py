"""Erasure: a user, a workspace, an agent or runs deleted in the app, or a person erased on
request, leave nothing keyed by them in any relation the project owns after the next build,
and the rollups equal a full refresh and the independent computation from the rows left."""

from __future__ import annotations

from uuid import UUID

import psycopg
import pytest

from agent_analytics import cli, db
from conftest import ProjectDatabase, acting_as
from test_metrics import check_every_metric, rollup_values

PROJECT_SCHEMAS = ("analytics", "analytics_internal")


def leftovers(project_db: ProjectDatabase, ids: set[UUID], people: set[UUID] | None = None) -> list[str]:
    """Every relation of the project's schemas (tables, partitioned parents, materialized views)
    and column that still holds one of `ids` in a uuid or uuid[] column, or the id of one of
    `people` (default: all of `ids`) anywhere in a text or json column. (Another user's event
    may name a deleted agent or run in its metadata: not personal data, and kept.)"""
    people = ids if people is None else people
    columns = project_db.rows(
        "select n.nspname, c.relname, a.attname, t.typname "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
        "join pg_type t on t.oid = a.atttypid "
        "where n.nspname = any(%s) and c.relkind in ('r', 'p', 'm') and not c.relispartition "
        "and t.typname in ('uuid', '_uuid', 'jsonb', 'json', 'text', 'varchar')",
        (list(PROJECT_SCHEMAS),),
    )
    assert len(columns) > 40, "the scan found too few columns to be a scan of the project"
    wanted = sorted(ids)
    texts = [str(value) for value in sorted(people)]
    found = []
    with project_db.connect() as conn:
        for schema, relation, column, type_name in columns:
            if type_name == "uuid":
                condition, argument = f'"{column}" = any(%s)', wanted
            elif type_name == "_uuid":
                condition, argument = f'"{column}" && %s::uuid[]', wanted
            elif texts:
                condition, argument = f'"{column}"::text ~ any(%s)', texts
            else:
                continue
            count = conn.execute(f'select count(*) from "{schema}"."{relation}" where {condition}', (argument,)).fetchone()[0]
            if count:
                found.append(f"{schema}.{relation}.{column}: {count} rows")
    return found


def pick(project_db: ProjectDatabase) -> dict[str, object]:
    """A user with events and runs in one workspace only, a workspace of other users, an agent
    of a third workspace, and runs of a fourth's agents: each deletion stands on its own."""
    workspaces = [w for (w,) in project_db.rows("select id from public.workspaces order by id")]
    assert len(workspaces) >= 3
    user = project_db.value(
        "select m.user_id from public.workspace_members m "
        "where exists (select from analytics.user_activity e where e.user_id = m.user_id) "
        "and exists (select from public.agent_runs r where r.user_id = m.user_id) "
        "group by m.user_id having count(*) = 1 order by m.user_id limit 1"
    )
    user_workspace = project_db.value("select workspace_id from public.workspace_members where user_id = %s", (user,))
    others = [w for w in workspaces if w != user_workspace]
    workspace = others[0]
    agent = project_db.value(
        "select agent_id from public.agent_runs where workspace_id <> all(%s) group by agent_id order by count(*) desc limit 1",
        ([user_workspace, workspace],),
    )
    runs = [r for (r,) in project_db.rows(
        "select id from public.agent_runs where workspace_id = %s and agent_id <> %s and user_id <> %s "
        "order by started_at desc limit 6",
        (user_workspace, agent, user),
    )]
    assert agent and len(runs) == 6
    return {"user": user, "user_workspace": user_workspace, "workspace": workspace, "agent": agent, "runs": runs}


@pytest.fixture(scope="module")
def erasure_db(make_database) -> ProjectDatabase:
    project_db = make_database(seed=41)
    project_db.build(data_tests=False)
    return project_db


def test_deleted_users_workspaces_agents_and_runs_leave_no_row_and_rollups_equal_a_full_refresh(erasure_db):
    project_db = erasure_db
    chosen = pick(project_db)
    user, workspace, agent, runs = chosen["user"], chosen["workspace"], chosen["agent"], chosen["runs"]
    # A backend acting for the user writes an alert rule (PostgREST as service_role with the
    # user's claims), so the audit log names them.
    with project_db.api() as conn, acting_as(conn, "service_role", user_id=user, commit=True):
        conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, created_by) "
            "values (%s, 'Runs', 'total_runs', 'greater_than', 1, %s)",
            (chosen["user_workspace"], user),
        )
    assert project_db.value("select count(*) from analytics.audit_log where actor_user_id = %s", (user,)) > 0
    run_days = project_db.rows(
        "select distinct agent_id, (started_at at time zone 'UTC')::date from public.agent_runs where id = any(%s)", (runs,))

    # As the app deletes them: the account through auth (Supabase), the rest in public.
    with project_db.connect_as("supabase_admin") as conn:
        conn.execute("delete from auth.users where id = %s", (user,))
    with project_db.connect() as conn:
        conn.execute("delete from public.workspaces where id = %s", (workspace,))
        conn.execute("delete from public.agents where id = %s", (agent,))
        conn.execute("delete from public.agent_runs where id = any(%s)", (runs,))
    assert project_db.value("select count(*) from analytics_internal.deleted_activity") > 0

    project_db.build()

    gone = {user, workspace, agent, *runs}
    assert leftovers(project_db, gone, people={user, workspace}) == []
    assert project_db.value("select count(*) from analytics_internal.deleted_activity") == 0
    # The audit row of the rule stays, without the person.
    assert project_db.value(
        "select count(*) from analytics.audit_log where action = 'alert_rules.insert' and actor_user_id is null") > 0
    check_every_metric(project_db)
    # The agent-days of the deleted runs were recomputed, not left with their old counts.
    for agent_id, day in run_days:
        counted = project_db.value(
            "select coalesce(sum(run_count), 0) from analytics_internal.int_agent_run_days where agent_id = %s and run_date = %s",
            (agent_id, day))
        assert counted == project_db.value(
            "select count(*) from public.agent_runs where agent_id = %s and (started_at at time zone 'UTC')::date = %s",
            (agent_id, day))
    incremental = rollup_values(project_db)

    project_db.build("--full-refresh")
    assert rollup_values(project_db) == incremental


def test_erase_user_on_request_removes_them_now_and_no_build_brings_them_back(make_database):
    project_db = make_database(seed=43)
    project_db.build(data_tests=False)
    user = project_db.value(
        "select m.user_id from public.workspace_members m "
        "where exists (select from analytics.user_activity e where e.user_id = m.user_id) "
        "and exists (select from public.agent_runs r where r.user_id = m.user_id) order by 1 limit 1"
    )
    # The user has just recorded an event themselves, which track_event counted for them.
    with project_db.api() as conn, acting_as(conn, "authenticated", user, commit=True):
        conn.execute("select analytics.track_event('login')")
    assert project_db.value("select events from analytics_internal.track_event_counts where user_id = %s", (user,)) == 1
    # As an operator's backend through the API.
    with project_db.api() as conn, acting_as(conn, "service_role", commit=True):
        deleted = conn.execute("select analytics.erase_user(%s)", (user,)).fetchone()[0]
    assert deleted > 0
    audit = project_db.rows("select actor_role, details::text from analytics.audit_log where action = 'erase_user'")
    assert [role for role, _ in audit] == ["service_role"] and str(user) not in audit[0][1]
    assert project_db.value("select count(*) from analytics.user_activity where user_id = %s", (user,)) == 0

    project_db.build()
    # The person is still in the app; analytics keeps only the fact that they were erased.
    allowed = {("analytics_internal", "erased_users")}
    found = [line for line in leftovers(project_db, {user}) if tuple(line.split(".")[:2]) not in allowed]
    assert found == []
    check_every_metric(project_db, erased_users=frozenset({user}))
    incremental = rollup_values(project_db)
    project_db.build("--full-refresh")
    assert rollup_values(project_db) == incremental
    assert [line for line in leftovers(project_db, {user}) if tuple(line.split(".")[:2]) not in allowed] == []

    # When the app deletes them later, the last trace goes too.
    with project_db.connect_as("supabase_admin") as conn:
        conn.execute("delete from auth.users where id = %s", (user,))
    project_db.build()
    assert leftovers(project_db, {user}) == []


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_only_service_role_erases(built, role):
    user = built.value("select id from public.users order by id limit 1")
    with built.api() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        with acting_as(conn, role, user_id=user if role == "authenticated" else None):
            conn.execute("select analytics.erase_user(%s)", (user,))


@pytest.mark.parametrize(("argument", "error", "message"), [
    ("'00000000-0000-0000-0000-0000000000aa'", psycopg.errors.NoDataFound, "no user"),
    ("null", psycopg.errors.NullValueNotAllowed, "must not be NULL"),
    ("'not-a-uuid'", psycopg.errors.InvalidTextRepresentation, "uuid"),
])
def test_erase_user_names_bad_input_clearly_and_erases_nothing(built, argument, error, message):
    events = built.value("select count(*) from analytics.user_activity")
    with built.api() as conn, pytest.raises(error, match=message):
        with acting_as(conn, "service_role"):
            conn.execute(f"select analytics.erase_user({argument})")
    assert built.value("select count(*) from analytics.user_activity") == events
    assert built.value("select count(*) from analytics_internal.erased_users") == 0


def test_the_command_names_an_unknown_user_in_one_line(built, monkeypatch, capsys):
    for name in db.LIBPQ_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in built.target.env().items():
        monkeypatch.setenv(name, value)
    assert cli.main(["erase-user", "00000000-0000-0000-0000-0000000000aa", "--no-build"]) == 1
    output = capsys.readouterr()
    assert "no user 00000000-0000-0000-0000-0000000000aa" in output.err and "Traceback" not in output.out + output.err


def test_the_build_roles_audit_scrub_takes_only_ids_of_people_and_workspaces_the_log_recorded(built):
    """The build role scrubs the ids of users and workspaces gone from the app; an id that is no
    user or workspace (an alert rule's) is not gone, and stays. A person the log names only as a
    rule's created_by (a backend wrote the rule, no person's JWT) is scrubbed once gone."""
    user = built.value("select id from public.users order by id desc limit 1")
    workspace = built.value("select workspace_id from public.workspace_members order by user_id limit 1")
    with built.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("set local role service_role")
        rule = conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, created_by) "
            "values (%s, 'Runs', 'total_runs', 'greater_than', 1, %s) returning id", (workspace, user)).fetchone()[0]
        conn.execute("reset role")
        conn.execute("delete from public.users where id = %s", (user,))
        conn.execute("set local role analytics_builder")
        scrubbed = conn.execute("select analytics_internal.scrub_audit_log(array[%s, %s]::uuid[])",
                                (rule, user)).fetchone()[0]
        conn.execute("reset role")
        # the insert's row, and the update's that the app's delete made (created_by set NULL)
        details = [text for (text,) in conn.execute(
            "select details::text from analytics.audit_log where details ->> 'rule_id' = %s order by id",
            (str(rule),)).fetchall()]
    assert scrubbed == len(details) == 2
    assert all(str(user) not in text and '"created_by": "erased"' in text for text in details), details
