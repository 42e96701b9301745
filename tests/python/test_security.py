"""The ingestion path, the member views of the materialized views, the audit log, and the
equivalents of the Supabase database linter, acting as PostgREST does."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timedelta

import psycopg
import pytest

from agent_analytics import db
from conftest import acting_as


@pytest.fixture(scope="module")
def member(built):
    """(user, their workspace, a workspace they are not in)."""
    user_id, workspace_id = built.rows(
        "select user_id, min(workspace_id::text)::uuid from public.workspace_members group by 1 "
        "having count(*) = 1 order by 1 limit 1"
    )[0]
    foreign = built.value("select id from public.workspaces where id <> %s order by id limit 1", (workspace_id,))
    return user_id, workspace_id, foreign


def track(conn, **arguments):
    names = ", ".join(f"{name} => %({name})s" for name in arguments)
    return conn.execute(f"select analytics.track_event({names})", arguments).fetchone()[0]


def test_a_member_records_an_event_stamped_with_their_own_user(built, member):
    user_id, workspace_id, _ = member
    headers = {"user-agent": "test-agent/1.0", "x-forwarded-for": "6.6.6.6, 203.0.113.9"}
    with built.api() as conn, acting_as(conn, "authenticated", user_id, headers=headers):
        event_id = track(conn, event_type="api_call", workspace_id=workspace_id,
                         metadata=psycopg.types.json.Jsonb({"response_time_ms": 12.5}))
        conn.execute("select set_config('role', 'service_role', true)")
        row = conn.execute(
            "select user_id, workspace_id, event_type, user_agent, host(ip_address) from analytics.user_activity "
            "where id = %s", (event_id,)
        ).fetchone()
    # the client wrote the first entry itself; the gateway appended the address it saw
    assert row == (user_id, workspace_id, "api_call", "test-agent/1.0", "203.0.113.9")


@pytest.mark.parametrize("forwarded, expected", [
    ("203.0.113.9", "203.0.113.9"),
    ("unknown, 203.0.113.9", "203.0.113.9"),
    ("203.0.113.9:51234", "203.0.113.9"),
    ("198.51.100.1,203.0.113.9:443", "203.0.113.9"),
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("198.51.100.1, 2001:db8::7", "2001:db8::7"),
    ('"203.0.113.9"', "203.0.113.9"),
    ("203.0.113.9, unknown", None),
    ("unknown", None),
    ("_hidden", None),
    ("", None),
    (" , ,", None),
    ("10.0.0.0/8", None),
    ("999.1.1.1", None),
    ("203.0.113.9, " * 500, None),
    (None, None),
])
def test_any_forwarded_for_value_keeps_the_event_and_stores_an_address_or_null(built, member, forwarded, expected):
    user_id, workspace_id, _ = member
    headers = {"user-agent": "curl/8"} if forwarded is None else {"x-forwarded-for": forwarded}
    with built.api() as conn, acting_as(conn, "authenticated", user_id, headers=headers):
        event_id = track(conn, event_type="page_view", workspace_id=workspace_id)
        conn.execute("select set_config('role', 'service_role', true)")
        stored = conn.execute("select host(ip_address) from analytics.user_activity where id = %s", (event_id,)).fetchone()
    assert stored == (expected,)


def test_request_headers_that_are_not_json_lose_no_event(built, member):
    user_id, workspace_id, _ = member
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        conn.execute("select set_config('request.headers', 'not json at all', true)")
        assert track(conn, event_type="login", workspace_id=workspace_id)


@pytest.mark.parametrize("arguments, message", [
    ({"event_type": "purchase"}, "unknown event type 'purchase'"),
    ({"event_type": None}, "unknown event type NULL"),
    ({"event_type": "page_view", "metadata": psycopg.types.json.Jsonb([1, 2])}, "metadata must be a JSON object"),
    ({"event_type": "page_view", "metadata": psycopg.types.json.Jsonb({"blob": "x" * 9000})}, "the limit is 8192"),
    ({"event_type": "page_view", "page_path": "/" + "p" * 300}, "too long"),
    ({"event_type": "api_call", "metadata": psycopg.types.json.Jsonb({"response_time_ms": "fast"})},
     "response_time_ms must be a number of milliseconds"),
    ({"event_type": "login", "occurred_at": "2020-01-01T00:00:00Z"}, "outside the last 3 days"),
])
def test_bad_events_are_refused_with_a_clear_message_and_nothing_is_written(built, member, arguments, message):
    user_id, _, _ = member
    before = built.value("select count(*) from analytics.user_activity")
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        with pytest.raises(psycopg.Error, match=message):
            track(conn, **arguments)
    assert built.value("select count(*) from analytics.user_activity") == before


def test_no_one_writes_into_a_workspace_they_do_not_belong_to(built, member):
    user_id, _, foreign = member
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not a member of workspace"):
            track(conn, event_type="page_view", workspace_id=foreign)


def test_no_one_writes_as_another_user_or_into_their_session(built, member):
    user_id, workspace_id, _ = member
    other_user, other_session = built.rows(
        "select user_id, session_id from analytics.user_activity where user_id <> %s and session_id is not null "
        "and created_at > now() - interval '2 days' limit 1",
        (user_id,),
    )[0]
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="belongs to another user"), conn.transaction():
            track(conn, event_type="page_view", session_id=other_session)
        # The function takes no user argument; a direct insert is refused outright.
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(
                "insert into analytics.user_activity (user_id, workspace_id, event_type) values (%s, %s, 'login')",
                (other_user, workspace_id),
            )


def test_events_under_another_users_older_session_add_nothing_to_it(make_database):
    """track_event checks a session's owner over the last 3 days only: a member who read an older
    session's id in their workspace's events may still send events under it. The session counts
    its first user's events only, so they add nothing to it; every metric still holds."""
    from test_metrics import check_every_metric

    project_db = make_database(seed=64)
    project_db.build(data_tests=False)
    columns = "session_id, user_id, workspace_id, session_start_at, session_end_at, event_count, page_view_count, is_bounce"
    session_id, workspace_id, other = project_db.rows(
        "select s.session_id, s.workspace_id, m.user_id from analytics_internal.int_sessions as s "
        "join public.workspace_members as m on m.workspace_id = s.workspace_id and m.user_id <> s.user_id "
        "where s.session_end_at < now() - interval '4 days' order by s.session_end_at desc, m.user_id limit 1")[0]
    before = project_db.rows(f"select {columns} from analytics_internal.int_sessions where session_id = %s",
                             (session_id,))
    with project_db.api() as conn, acting_as(conn, "authenticated", other, commit=True):
        conn.execute("select analytics.track_event('page_view', %s, session_id => %s, "
                     "occurred_at => now() - interval '71 hours')", (workspace_id, session_id))
    assert project_db.value("select count(distinct user_id) from analytics.user_activity where session_id = %s",
                            (session_id,)) == 2
    project_db.build(data_tests=False)
    assert project_db.rows(f"select {columns} from analytics_internal.int_sessions where session_id = %s",
                           (session_id,)) == before
    check_every_metric(project_db)


@pytest.mark.parametrize("role", ["anon", None])
def test_anonymous_callers_cannot_track(built, role):
    with built.api() as conn, acting_as(conn, role or "authenticated"):
        with pytest.raises(psycopg.Error, match="permission denied|no signed-in user"):
            track(conn, event_type="page_view")


@pytest.fixture
def track_limit(built):
    """Sets track_event's limit per minute for one test, as service_role (committed); afterwards
    puts back the limit it found and forgets the test's counts."""
    def set_limit(per_minute: int) -> None:
        with built.api() as conn, acting_as(conn, "service_role", commit=True):
            conn.execute("select analytics.set_track_event_limit(%s)", (per_minute,))

    found = built.value("select events_per_minute from analytics_internal.track_event_limit")
    yield set_limit
    set_limit(found)
    with built.connect() as conn:
        conn.execute("delete from analytics_internal.track_event_counts")


def counted_already(built, user_id, events: int, minute: datetime) -> None:
    """A user who has recorded `events` events in the UTC `minute`, as earlier requests leave it
    (committed)."""
    with built.connect() as conn:
        conn.execute(
            "insert into analytics_internal.track_event_counts as counts (user_id, minute, events) "
            "values (%s, %s, %s) on conflict (user_id) do update set minute = excluded.minute, events = excluded.events",
            (user_id, minute, events),
        )


def minute_of(conn) -> datetime:
    """The UTC minute of the transaction `conn` is in (of its start, as track_event counts it)."""
    return conn.execute("select date_trunc('minute', now(), 'UTC')").fetchone()[0]


def refused_for_the_minute(conn, workspace_id) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as refused, conn.transaction():
        track(conn, event_type="page_view", workspace_id=workspace_id)
    return refused.value


def test_a_user_past_the_events_a_minute_is_refused_with_429_and_nothing_is_written(built, member, track_limit):
    user_id, workspace_id, _ = member
    track_limit(3)
    other_user, other_workspace = built.rows(
        "select user_id, workspace_id from public.workspace_members where user_id <> %s order by 1, 2 limit 1",
        (user_id,))[0]
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        for _ in range(3):
            track(conn, event_type="page_view", workspace_id=workspace_id)
        mine = "select count(*) from analytics.user_activity where user_id = %s"
        written = conn.execute(mine, (user_id,)).fetchone()[0]
        for _ in range(2):
            refused = refused_for_the_minute(conn, workspace_id)
            assert refused.sqlstate == "PT429"  # PostgREST answers 429 Too Many Requests
            assert refused.diag.message_primary == "track_event: more than 3 events in a minute from this user"
            assert refused.diag.message_hint == "wait for the next minute (UTC)"
        assert conn.execute(mine, (user_id,)).fetchone()[0] == written
        # The refused calls took their counts back with them: with one more allowed, one more
        # call is taken (the count is 3, not 5), and the next refused.
        track_limit(4)
        assert track(conn, event_type="page_view", workspace_id=workspace_id)
        assert refused_for_the_minute(conn, workspace_id).sqlstate == "PT429"
    with built.api() as conn, acting_as(conn, "authenticated", other_user):
        assert track(conn, event_type="page_view", workspace_id=other_workspace)


@pytest.mark.parametrize("minutes_ago, refused", [(0, True), (1, False)])
def test_a_users_count_holds_across_requests_until_the_next_minute(built, member, track_limit, minutes_ago, refused):
    user_id, workspace_id, _ = member
    track_limit(3)
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        counted_already(built, user_id, 3, minute_of(conn) - timedelta(minutes=minutes_ago))
        if refused:
            assert refused_for_the_minute(conn, workspace_id).sqlstate == "PT429"
        else:
            assert track(conn, event_type="page_view", workspace_id=workspace_id)


@pytest.mark.parametrize("role, claimed, counted", [
    ("service_role", "service_role", False),
    # what decides is the request's role, never a role the JWT claims
    ("authenticated", "service_role", True),
])
def test_only_service_role_is_not_counted(built, member, track_limit, role, claimed, counted):
    user_id, workspace_id, _ = member
    track_limit(1)
    with built.api() as conn, acting_as(conn, role, user_id):
        counted_already(built, user_id, 1, minute_of(conn))
        conn.execute("select set_config('request.jwt.claims', %s, true)",
                     (json.dumps({"sub": str(user_id), "role": claimed}),))
        if counted:
            assert refused_for_the_minute(conn, workspace_id).sqlstate == "PT429"
        else:
            assert track(conn, event_type="page_view", workspace_id=workspace_id)


def test_a_request_begun_in_an_earlier_minute_counts_in_the_latest(built, member, track_limit):
    """A request still running at the turn of a minute neither starts the count again nor
    moves it back to its own minute: it counts in the count's."""
    user_id, workspace_id, _ = member
    track_limit(3)
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        # the next minute, as a later request left it
        counted_already(built, user_id, 2, minute_of(conn) + timedelta(minutes=1))
        assert track(conn, event_type="page_view", workspace_id=workspace_id)  # the third
        assert refused_for_the_minute(conn, workspace_id).sqlstate == "PT429"


def test_deleting_a_user_does_not_wait_for_their_count(built, track_limit):
    """track_event locks the caller's count, then their row in the app's users (the event's
    foreign key): a delete of the user that locked their row first and then their count would
    deadlock with it."""
    person = uuid.uuid4()
    with built.connect_as("supabase_admin") as conn:
        conn.execute("insert into auth.users (id, email) values (%s, %s)", (person, f"{person}@example.com"))
        conn.execute("insert into public.users (id, email) values (%s, %s)", (person, f"{person}@example.com"))
    with built.connect() as holder, holder.transaction():
        counted_already(built, person, 1, minute_of(holder))
        holder.execute("select from analytics_internal.track_event_counts where user_id = %s for update", (person,))
        with built.connect_as("supabase_admin") as conn:
            conn.execute("set lock_timeout = '5s'")
            conn.execute("delete from auth.users where id = %s", (person,))
    assert built.value("select count(*) from public.users where id = %s", (person,)) == 0


def test_retention_forgets_the_counts_of_past_minutes_but_waits_for_none(built, member, track_limit):
    """A count of a past minute that a call holds is left for the next cleanup: the call may be
    waiting for the partitions cleanup_old_data() drops, a deadlock if the cleanup waited for it."""
    user_id, _, _ = member
    past_user, held_user = built.rows("select id from public.users where id <> %s order by id limit 2", (user_id,))
    with built.connect() as holder, holder.transaction():
        now = minute_of(holder)
        counted_already(built, user_id, 2, now + timedelta(minutes=1))  # current whenever the cleanup runs
        counted_already(built, past_user[0], 2, now - timedelta(minutes=2))
        counted_already(built, held_user[0], 2, now - timedelta(minutes=2))
        holder.execute("select from analytics_internal.track_event_counts where user_id = %s for update", held_user)
        with built.api() as conn, acting_as(conn, "service_role", commit=True):
            conn.execute("set local lock_timeout = '5s'")
            conn.execute("select analytics.cleanup_old_data()")
    assert sorted(built.rows("select user_id from analytics_internal.track_event_counts")) == sorted(
        [(user_id,), held_user])


def test_a_caller_the_app_does_not_know_is_refused_by_name(built):
    stranger = uuid.uuid4()
    with built.api() as conn, acting_as(conn, "authenticated", stranger):
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification,
                           match=f"track_event: no user {stranger} in public.users"):
            track(conn, event_type="page_view")


def test_the_limit_is_set_by_service_role_and_audited(built, track_limit):
    track_limit(25)
    assert built.value("select events_per_minute from analytics_internal.track_event_limit") == 25
    assert built.rows("select action, details ->> 'events_per_minute' from analytics.audit_log "
                      "where action = 'set_track_event_limit' order by id desc limit 1") == [
        ("set_track_event_limit", "25")]


@pytest.mark.parametrize("per_minute", ["0", "-1", "1000001", "null"])
def test_a_limit_out_of_range_is_refused_by_name_and_the_stored_one_kept(built, per_minute):
    before = built.value("select events_per_minute from analytics_internal.track_event_limit")
    with built.api() as conn, acting_as(conn, "service_role"):
        with pytest.raises(psycopg.errors.InvalidParameterValue,
                           match="events_per_minute must be from 1 to 1000000, not "):
            conn.execute(f"select analytics.set_track_event_limit({per_minute})")
    assert built.value("select events_per_minute from analytics_internal.track_event_limit") == before


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_only_service_role_sets_the_limit(built, member, role):
    with built.api() as conn, acting_as(conn, role, member[0] if role == "authenticated" else None):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select analytics.set_track_event_limit(1000000)")


@pytest.mark.parametrize("function, view", [
    ("member_active_users", "mv_active_users"),
    ("member_top_agents", "mv_top_agents"),
    ("member_workspace_summary", "mv_workspace_summary"),
])
def test_members_read_materialized_views_only_for_their_workspaces(built, member, function, view):
    """The spec's materialized views are tables with RLS: a member reads their workspaces' rows
    of the table itself and through the earlier versions' member function; anon reads neither."""
    user_id, workspace_id, _ = member
    expected = built.value(f"select count(*) from analytics.{view} where workspace_id = %s", (workspace_id,))
    assert built.value(f"select count(distinct workspace_id) from analytics.{view}") > 1
    for source in (f"analytics.{view}", f"analytics.{function}()"):
        with built.api() as conn, acting_as(conn, "authenticated", user_id):
            seen = conn.execute(f"select workspace_id from {source}").fetchall()
        assert expected > 0 and len(seen) == expected, source
        assert {w for (w,) in seen} == {workspace_id}, source
        with built.api() as conn, acting_as(conn, "anon"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select * from {source}")


def test_alert_rule_changes_are_audited_with_who_and_what(built, member):
    user_id, workspace_id, _ = member
    with built.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("set local role service_role")
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": str(user_id)}),))
        rule_id = conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value) "
            "values (%s, 'Errors', 'error_rate', 'greater_than', 5) returning id", (workspace_id,)
        ).fetchone()[0]
        conn.execute("update analytics.alert_rules set threshold_value = 7 where id = %s", (rule_id,))
        conn.execute("delete from analytics.alert_rules where id = %s", (rule_id,))
        entries = conn.execute(
            "select action, actor_user_id, actor_role, workspace_id, details -> 'after' ->> 'threshold_value' "
            "from analytics.audit_log where details ->> 'rule_id' = %s order by id", (str(rule_id),)
        ).fetchall()
    assert entries == [
        ("alert_rules.insert", user_id, "service_role", workspace_id, "5.00"),
        ("alert_rules.update", user_id, "service_role", workspace_id, "7.00"),
        ("alert_rules.delete", user_id, "service_role", workspace_id, None),
    ]


def test_maintenance_calls_are_audited_and_the_log_cannot_be_forged(built, member):
    user_id, workspace_id, _ = member
    with built.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("set local role service_role")
        conn.execute("select analytics.refresh_all_materialized_views()")
        logged = conn.execute(
            "select actor_role from analytics.audit_log where action = 'refresh_all_materialized_views' "
            "order by id desc limit 1"
        ).fetchone()
        assert logged == ("service_role",)
        for statement in ("insert into analytics.audit_log (actor_role, action) values ('x', 'forged')",
                          "update analytics.audit_log set action = 'erased'", "delete from analytics.audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select analytics.write_audit('forged', %s, '{}')", (workspace_id,))


def test_a_member_cannot_redirect_a_security_definer_function_with_search_path(built, member):
    user_id, workspace_id, _ = member
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        conn.execute("set local search_path = pg_temp, public")
        conn.execute("create temporary table workspace_members (workspace_id uuid, user_id uuid)")
        seen = {w for (w,) in conn.execute("select analytics.member_workspace_ids()").fetchall()}
    assert seen == {workspace_id}


# ---- the Supabase database linter's rules, as queries -----------------------------------

LINTS = {
    "auth_rls_initplan: policy calls auth.uid() unwrapped": """
        select tablename from pg_policies where schemaname = 'analytics'
          and (qual ~ 'auth\\.uid\\(\\)' and qual !~ 'SELECT auth\\.uid\\(\\)')
    """,
    "multiple_permissive_policies: several permissive policies per role and action": """
        select tablename, cmd, r from pg_policies, unnest(roles) as r
        where schemaname = 'analytics' and permissive = 'PERMISSIVE'
        group by 1, 2, 3 having count(*) > 1
    """,
    "policy_exists_rls_disabled / rls_enabled_no_policy": """
        select c.relname from pg_class c
        where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
          and c.relrowsecurity <> exists (select from pg_policies p where p.schemaname = 'analytics' and p.tablename = c.relname)
    """,
    "function_search_path_mutable": """
        select p.proname from pg_proc p
        where p.pronamespace in ('analytics'::regnamespace, 'analytics_internal'::regnamespace)
          and not exists (select from unnest(coalesce(p.proconfig, '{}')) as c where c like 'search_path=%%')
    """,
    "rls_disabled_in_public: a table with workspace_id and no RLS in the exposed schema": """
        select c.relname from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'workspace_id'
        where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
          and not c.relrowsecurity
    """,
    "materialized_view_in_api: an API role can read a materialized view": """
        select c.relname, r from pg_class c, unnest(array['anon', 'authenticated']) as r
        where c.relnamespace = 'analytics'::regnamespace and c.relkind = 'm'
          and has_table_privilege(r, c.oid, 'select')
    """,
    # for a role a request can take; the build role's read-all policy is for a NOLOGIN role of ours
    "permissive policy using (true)": """
        select tablename from pg_policies where schemaname = 'analytics' and (qual = 'true' or with_check = 'true')
          and roles && array['public', 'anon', 'authenticated', 'service_role']::name[]
    """,
    "security_definer function executable by anon": """
        select p.proname from pg_proc p
        where p.pronamespace in ('analytics'::regnamespace, 'analytics_internal'::regnamespace)
          and p.prosecdef and has_function_privilege('anon', p.oid, 'execute')
    """,
    # a view with security_invoker reads as its caller, under the tables' RLS (Supabase's rule too)
    "security definer view readable by API roles": """
        select c.relname, r from pg_class c, unnest(array['anon', 'authenticated']) as r
        where c.relnamespace in ('analytics'::regnamespace, 'analytics_internal'::regnamespace) and c.relkind = 'v'
          and has_table_privilege(r, c.oid, 'select')
          and not coalesce(c.reloptions @> array['security_invoker=true'], false)
    """,
    "API roles can use the internal schema": """
        select r from unnest(array['anon', 'authenticated', 'service_role']) as r
        where has_schema_privilege(r, 'analytics_internal', 'usage')
    """,
    "maintenance callable by PUBLIC, anon or authenticated": """
        select p.proname, r from pg_proc p, unnest(array['public', 'anon', 'authenticated']) as r
        where p.pronamespace = 'analytics'::regnamespace
          and p.proname in ('cleanup_old_data', 'refresh_all_materialized_views', 'aggregate_daily_metrics',
                            'ensure_user_activity_partitions', 'write_audit', 'evaluate_alerts')
          and (r = 'public' and exists (select from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                                        where a.grantee = 0 and a.privilege_type = 'EXECUTE')
               or r <> 'public' and has_function_privilege(r, p.oid, 'execute'))
    """,
}


@pytest.mark.parametrize("rule", sorted(LINTS))
def test_schema_passes_the_supabase_linter_rule(built, rule):
    assert built.rows(LINTS[rule]) == []


def test_member_queries_on_a_rollup_use_an_index_not_a_scan_of_all_tenants(built, member):
    user_id, workspace_id, _ = member
    with built.api() as conn, acting_as(conn, "authenticated", user_id):
        conn.execute("set local enable_seqscan = off")  # tiny tables: make the planner show what it can use
        plan = "\n".join(row[0] for row in conn.execute(
            "explain select * from analytics.daily_metrics"
        ).fetchall())
    # The membership test becomes an index condition on workspace_id: no scan of other tenants' rows.
    assert "Index Cond: (workspace_id = ANY" in plan, plan


def test_service_role_evaluates_alerts_and_a_firing_rule_is_recorded(built):
    workspace_id, busiest_hour = built.rows(
        "select workspace_id, date_trunc('hour', started_at) from public.agent_runs "
        "group by 1, 2 order by count(*) desc limit 1"
    )[0]
    runs_that_hour = built.value(
        "select count(*) from public.agent_runs where workspace_id = %s and started_at >= %s "
        "and started_at < %s + interval '1 hour'", (workspace_id, busiest_hour, busiest_hour)
    )
    with built.connect() as conn, conn.transaction(force_rollback=True):
        rules = {
            name: conn.execute(
                "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, "
                "evaluation_window_minutes, notification_channels, notification_recipients) values "
                "(%s, %s, 'total_runs', %s, %s, 60, '[\"email\"]', '[\"ops@example.com\"]') returning id", (workspace_id, name, condition, threshold)
            ).fetchone()[0]
            for name, condition, threshold in (
                ("fires", "greater_than", runs_that_hour - 1), ("quiet", "greater_than", runs_that_hour),
                ("exact", "equals", runs_that_hour),
            )
        }
        conn.execute("set local role service_role")
        fired = conn.execute("select analytics.evaluate_alerts(%s + interval '1 hour')", (busiest_hour,)).fetchone()[0]
        history = conn.execute(
            "select r.name, h.metric_value, h.notifications_sent, r.trigger_count from analytics.alert_history h "
            "join analytics.alert_rules r on r.id = h.alert_rule_id where r.id = any(%s) order by r.name",
            (list(rules.values()),),
        ).fetchall()
        queued = conn.execute("select r.name, n.event, n.channel, n.target, n.status from analytics.alert_notifications n "
                              "join analytics.alert_rules r on r.id = n.alert_rule_id where r.id = any(%s) order by 1",
                              (list(rules.values()),)).fetchall()
    assert fired >= 2
    # one episode each, with the message to deliver queued (attempts are recorded as they happen)
    assert history == [("exact", runs_that_hour, [], 1), ("fires", runs_that_hour, [], 1)]
    assert queued == [("exact", "firing", "email", "ops@example.com", "pending"),
                      ("fires", "firing", "email", "ops@example.com", "pending")]


# -- SECURITY DEFINER functions use nothing a caller can make first ---------------------------

PLANT = """
create function pg_temp.planted() returns boolean language plpgsql as $$
begin
    if current_user not in (session_user, 'service_role') then
        raise exception 'planted code ran as %', current_user;
    end if;
    return true;
end $$;
create function pg_temp.planted_trigger() returns trigger language plpgsql as $$
begin
    perform pg_temp.planted();
    return new;
end $$;
"""
# Type names the functions use, each shadowed by a domain whose check runs the planted code.
SHADOWED_TYPES = ("inet", "uuid", "jsonb", "text", "date", "timestamptz", "numeric", "int4", "int8", "bool",
                  "regclass", "name")
# Names a function could take for its own: temporary tables with a trigger that runs the code.
SHADOWED_TABLES = ("user_activity_moving", "daily_metrics_for_day", "user_activity", "user_activity_default",
                   "daily_metrics", "alert_rules", "alert_history", "audit_log", "workspace_members",
                   "mv_active_users", "build_watermarks", "alert_metrics", "alert_rule_states", "alert_notifications",
                   "webhook_secrets", "alert_windows", "alert_values", "alert_outcomes", "pipeline_runs", "pipeline_lag",
                   "build_cuts")


@pytest.fixture
def backend_login(built):
    """A database login that can act as service_role, as a backend job gets."""
    name = f"aa_backend_{uuid.uuid4().hex[:8]}"
    with built.connect_as("supabase_admin") as conn:
        conn.execute(f"create role {name} login in role service_role")
    try:
        yield dataclasses.replace(built.target, user=name)
    finally:
        with built.connect_as("supabase_admin") as conn:
            conn.execute(f"drop owned by {name}")
            conn.execute(f"drop role {name}")


def test_no_security_definer_function_runs_what_a_service_role_login_planted(built, backend_login, member):
    user_id, workspace_id, _ = member
    definers = {name for (name,) in built.rows(
        "select p.proname from pg_proc p where p.prosecdef "
        "and p.pronamespace in ('analytics'::regnamespace, 'analytics_internal'::regnamespace)"
    )}
    far_day = built.value("select (now() at time zone 'UTC')::date + 40")
    calls = {
        "member_workspace_ids": "select count(*) from analytics.member_workspace_ids()",
        "track_event": f"select analytics.track_event('page_view', '{workspace_id}'::uuid)",
        "ensure_user_activity_partitions": f"select analytics.ensure_user_activity_partitions('{far_day}', '{far_day}')",
        "cleanup_old_data": "select analytics.cleanup_old_data()",
        "refresh_all_materialized_views": "select analytics.refresh_all_materialized_views()",
        # each table's refresh (the build role's), which refresh_all_materialized_views() calls
        **{f"refresh_{view}": "select analytics.refresh_all_materialized_views()"
           for view in ("mv_active_users", "mv_top_agents", "mv_workspace_summary")},
        "evaluate_alerts": "select analytics.evaluate_alerts(now())",
        "aggregate_daily_metrics": "select analytics.aggregate_daily_metrics((now() at time zone 'UTC')::date - 1)",
        "member_active_users": "select count(*) from analytics.member_active_users()",
        "member_top_agents": "select count(*) from analytics.member_top_agents()",
        "member_workspace_summary": "select count(*) from analytics.member_workspace_summary()",
        "member_live_hourly_metrics": "select count(*) from analytics.member_live_hourly_metrics()",
        "live_hourly_metrics": "select count(*) from analytics.live_hourly_metrics()",
        "member_live_daily_metrics": "select count(*) from analytics.member_live_daily_metrics()",
        "live_daily_metrics": "select count(*) from analytics.live_daily_metrics()",
        "credit_price_usd": "select analytics.credit_price_usd()",
        "set_credit_price_usd": "select analytics.set_credit_price_usd(analytics.credit_price_usd())",
        "set_track_event_limit": "select analytics.set_track_event_limit(600)",
        # the audit trigger's function, and write_audit, which every audited function calls
        "audit_alert_rule_change": "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, "
                                   f"threshold_value) values ('{workspace_id}', 'planted', 'total_runs', 'greater_than', 1)",
        "write_audit": "select analytics.cleanup_old_data()",
        "alert_rule_recipients": "select analytics.alert_rule_recipients(gen_random_uuid())",
        "webhook_secret": f"select analytics.webhook_secret('{workspace_id}')",
        "rotate_webhook_secret": f"select analytics.rotate_webhook_secret('{workspace_id}')",
        "acknowledge_alert": (
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value) "
            f"values ('{workspace_id}', 'planted', 'total_runs', 'greater_than', 1); "
            "insert into analytics.alert_history (alert_rule_id, workspace_id) "
            "select id, workspace_id from analytics.alert_rules where name = 'planted'; "
            "select analytics.acknowledge_alert(h.id, 'x') from analytics.alert_history h "
            "join analytics.alert_rules r on r.id = h.alert_rule_id where r.name = 'planted'"),
        # erasure (rolled back): the function, the triggers that note what it deletes, the audit scrub
        "erase_user": f"select analytics.erase_user('{user_id}')",
        "note_deleted_events": f"select analytics.erase_user('{user_id}')",
        "note_deleted_runs": f"select analytics.erase_user('{user_id}')",
        "scrub_audit_log": f"select analytics.erase_user('{user_id}')",
        # the triggers that keep user_activity_recent: an insert (track_event above) and a delete (erasure)
        "copy_recent_events": f"select analytics.track_event('page_view', '{workspace_id}'::uuid)",
        "forget_recent_events": f"select analytics.erase_user('{user_id}')",
        # an update or a truncate of user_activity: only its owner may make them
        "change_recent_events": None,
        "empty_recent_events": None,
        # called by the build role's hooks only; service_role may not call it
        "oldest_open_transaction_start": None,
        # the owner's (the worker's and pg_cron's) only: service_role may not call them (test_live_metrics.py)
        "refresh_live_metrics": None,
        "refresh_live_hourly_snapshot": None,
        "refresh_live_daily_snapshot": None,
        "register_runs": None,
        # runs only when a sensitive call fails (test_audit.py)
        "log_failed_call": None,
    }
    assert definers <= set(calls), f"a SECURITY DEFINER function this test does not call: {definers - set(calls)}"
    events_before = built.value("select count(*) from analytics.user_activity")
    with db.connect(backend_login) as conn:
        conn.execute("select set_config('request.jwt.claims', %s, false)",
                     (json.dumps({"sub": str(user_id), "role": "service_role"}),))
        conn.execute(PLANT)
        for type_name in SHADOWED_TYPES:
            conn.execute(f"create domain pg_temp.{type_name} as pg_catalog.{type_name} check (pg_temp.planted())")
        for table in SHADOWED_TABLES:
            conn.execute(f"create temporary table {table} (like analytics.user_activity)")
            conn.execute(f"create trigger planted before insert or update or delete on pg_temp.{table} "
                         "for each row execute function pg_temp.planted_trigger()")
        conn.execute("set role service_role")
        # an event that waits in the DEFAULT partition until its day gets a partition
        conn.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, created_at) "
                     "values (%s, %s, 'login', %s::date + interval '1 hour')", (user_id, workspace_id, far_day))
        for name, statement in calls.items():
            if statement is None:
                continue
            with conn.transaction(force_rollback=name in ("audit_alert_rule_change", "acknowledge_alert",
                                                          "rotate_webhook_secret", "erase_user", "note_deleted_events",
                                                          "note_deleted_runs", "scrub_audit_log",
                                                          "forget_recent_events")):
                conn.execute(statement)
        conn.execute("reset role")
    assert built.value("select count(*) from analytics.user_activity") >= events_before + 2
    assert built.value("select count(*) from analytics.user_activity where created_at >= %s::date "
                       "and created_at < %s::date + 1 and tableoid <> 'analytics.user_activity_default'::regclass",
                       (far_day, far_day)) == 1


# -- secrets stay with the people who manage alerts; the audit log is append-only -------------

SECRET_URL = "https://hooks.example.com/T000/B000/very-secret-token"


@pytest.fixture
def secret_rule(built):
    """A rule whose webhook URL carries a secret, in a workspace with an owner and a viewer."""
    workspace_id, owner, viewer = built.rows(
        "select o.workspace_id, o.user_id, v.user_id from public.workspace_members o "
        "join public.workspace_members v on v.workspace_id = o.workspace_id and v.user_id <> o.user_id "
        "where o.role = 'owner' order by 1 limit 1")[0]
    with built.connect_as("supabase_admin") as conn:
        conn.execute("update public.workspace_members set role = 'viewer' where workspace_id = %s and user_id = %s",
                     (workspace_id, viewer))
    with built.connect() as conn, conn.transaction():
        conn.execute("set local role service_role")
        rule_id = conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, "
            "notification_channels, notification_recipients) values (%s, 'secret', 'total_runs', 'greater_than', 1, "
            "'[\"webhook\"]', %s) returning id", (workspace_id, json.dumps([SECRET_URL]))).fetchone()[0]
    yield rule_id, workspace_id, owner, viewer
    with built.connect() as conn:
        conn.execute("delete from analytics.alert_rules where id = %s", (rule_id,))


def test_members_read_their_rules_but_not_the_notification_targets(built, secret_rule):
    rule_id, _, _, viewer = secret_rule
    with built.api() as conn, acting_as(conn, "authenticated", viewer):
        assert conn.execute("select name from analytics.alert_rules where id = %s", (rule_id,)).fetchone() == ("secret",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("select notification_recipients from analytics.alert_rules")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only the owners and admins"), conn.transaction():
            conn.execute("select analytics.alert_rule_recipients(%s)", (rule_id,))


def test_owners_and_service_role_read_the_notification_targets(built, secret_rule):
    rule_id, _, owner, _ = secret_rule
    with built.api() as conn, acting_as(conn, "authenticated", owner):
        assert conn.execute("select analytics.alert_rule_recipients(%s)", (rule_id,)).fetchone()[0] == [SECRET_URL]
    with built.api() as conn, acting_as(conn, "service_role"):
        assert conn.execute("select notification_recipients from analytics.alert_rules where id = %s",
                            (rule_id,)).fetchone()[0] == [SECRET_URL]


def test_the_audit_log_keeps_no_notification_target_in_clear(built, secret_rule):
    rule_id, *_ = secret_rule
    with built.connect() as conn:
        conn.execute("update analytics.alert_rules set threshold_value = 2 where id = %s", (rule_id,))
    details = built.rows("select details::text from analytics.audit_log where details ->> 'rule_id' = %s",
                         (str(rule_id),))
    assert details and all(SECRET_URL not in text and "very-secret-token" not in text for (text,) in details)
    assert any('"notification_recipients_count": 1' in text for (text,) in details)


@pytest.mark.parametrize("statement", [
    "update analytics.audit_log set action = 'nothing happened'",
    "delete from analytics.audit_log",
    "truncate analytics.audit_log",
    "alter table analytics.audit_log disable trigger audit_log_append_only",
    "drop trigger audit_log_append_only on analytics.audit_log",
])
@pytest.mark.parametrize("role", ["analytics_builder", "service_role", "authenticated"])
def test_no_api_role_nor_the_build_role_rewrites_the_audit_log(built, role, statement):
    with built.connect() as conn:
        conn.execute("select analytics.cleanup_old_data()")  # at least one row
    with built.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute(f"set local role {role}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_even_the_owner_cannot_change_or_delete_an_audit_row_without_dropping_the_trigger(built):
    with built.connect() as conn:
        conn.execute("select analytics.cleanup_old_data()")
        for statement in ("update analytics.audit_log set action = 'x'", "delete from analytics.audit_log",
                          "truncate analytics.audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), conn.transaction():
                conn.execute(statement)


def test_only_the_owner_says_when_an_event_arrived(built, member):
    """An arrival time chosen by service_role would hide the event from the incremental builds
    (in the past) or make every build take it in again (in the future): the database stamps it."""
    user_id, workspace_id, _ = member
    with built.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("set local role service_role")
        stamped = conn.execute(
            "insert into analytics.user_activity (user_id, workspace_id, event_type, ingested_at) "
            "values (%s, %s, 'login', now() - interval '30 days'), (%s, %s, 'login', now() + interval '30 days') "
            "returning ingested_at = now()", (user_id, workspace_id, user_id, workspace_id)).fetchall()
    assert stamped == [(True,), (True,)]
    with built.connect() as conn, conn.transaction(force_rollback=True):
        kept = conn.execute(
            "insert into analytics.user_activity (user_id, workspace_id, event_type, ingested_at) "
            "values (%s, %s, 'login', now() - interval '30 days') returning ingested_at < now()",
            (user_id, workspace_id)).fetchone()
    assert kept == (True,)  # the owner's bulk loads of history keep their own
