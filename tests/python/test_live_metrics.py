"""The live current hour and day (macros/rollups/live_metrics.sql): what members read between two
builds equals the independent computation from the raw rows and what the next build writes,
through the API roles as PostgREST makes its requests."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

import oracle
from conftest import acting_as, wait_until
from test_metrics import compare

# `changed` writes the app's events at one "now" for all the module's tests, which read them
# as today's.
pytestmark = pytest.mark.one_utc_day(10)

# daily_metrics' columns that the live day computes (the session columns wait for the build)
LIVE_DAILY_COLUMNS = (
    "active_users", "new_users", "returning_users", "total_runs", "successful_runs", "failed_runs",
    "cancelled_runs", "total_credits_consumed", "unique_agents_run", "total_errors", "error_rate",
)
HOURLY_COLUMNS = (
    "active_users", "total_runs", "successful_runs", "failed_runs", "total_credits", "avg_response_time_ms",
    "p95_response_time_ms",
)


def today_start() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def keyed(rows: list[dict], key: tuple[str, ...], columns: tuple[str, ...]) -> dict[tuple, dict]:
    return {tuple(row[k] for k in key): {c: row[c] for c in columns} for row in rows}


def live_days_of(raw: oracle.Raw, keep: Callable[[date, uuid.UUID | None], bool]) -> dict[tuple, dict]:
    """The oracle's daily_metrics rows that `keep(day, workspace)` picks, with the columns the live day has."""
    return {key: {column: row[column] for column in LIVE_DAILY_COLUMNS}
            for key, row in oracle.daily_metrics(raw).items() if keep(*key)}


def fetch(conn: psycopg.Connection, query: str, params: tuple = ()) -> list[dict]:
    cursor = conn.execute(query, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def built_hour_of_today(now: datetime) -> datetime | None:
    """The hour before the current one, when it is of today: an hour of the live part that the
    build wrote too. None in the UTC day's first hour."""
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    return hour if hour >= today_start() else None


def write_since_the_build(project_db) -> dict:
    """What the app does after a build, within the current hour: a new user's first events in
    two workspaces, an API call, an error, an event outside any workspace, a run started now,
    and a run of earlier today that finishes now (its hour changes). In an hour the build
    wrote, if today has one: an event that arrives late, and a user's events there deleted."""
    now = datetime.now(UTC)
    late_hour = built_hour_of_today(now)
    with project_db.connect() as conn:
        (workspace_a, user_a), (workspace_b, user_b) = conn.execute(
            "select distinct on (workspace_id) workspace_id, user_id from public.workspace_members "
            "order by workspace_id, user_id limit 2"
        ).fetchall()
        agent_a = conn.execute("select id from public.agents where workspace_id = %s limit 1", (workspace_a,)).fetchone()[0]
        newcomer = uuid.uuid4()
        conn.execute(
            "insert into auth.users (id, email) values (%s, %s)", (newcomer, f"{newcomer}@example.com"))
        conn.execute("insert into public.users (id, email) values (%s, %s)", (newcomer, f"{newcomer}@example.com"))
        for workspace in (workspace_a, workspace_b):
            conn.execute("insert into public.workspace_members (workspace_id, user_id, role) values (%s, %s, 'member')",
                         (workspace, newcomer))
        conn.execute(
            """
            insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, metadata, created_at)
            values
                (%(new)s, %(a)s, 'page_view', 'home', '{}', %(now)s),
                (%(new)s, %(b)s, 'api_call', 'list', '{"response_time_ms": 1234}', %(now)s),
                (%(ua)s, %(a)s, 'error', 'boom', '{"error_type": "timeout"}', %(now)s),
                (%(ub)s, null, 'page_view', 'settings', '{}', %(now)s)
            """,
            {"new": newcomer, "a": workspace_a, "b": workspace_b, "ua": user_a, "ub": user_b, "now": now},
        )
        conn.execute(
            "insert into public.agent_runs (agent_id, workspace_id, user_id, status, started_at, credits_consumed, model) "
            "values (%s, %s, %s, 'running', %s, 7.5, 'gpt-4o')",
            (agent_a, workspace_a, newcomer, now),
        )
        earlier = conn.execute(
            "update public.agent_runs set status = 'failed', error_type = 'rate_limit', completed_at = now(), "
            "updated_at = now() where id = (select id from public.agent_runs where started_at >= %s "
            "and status <> 'failed' order by started_at limit 1) returning id",
            (today_start(),),
        ).fetchone()
        deleted_in = None
        if late_hour is not None:
            conn.execute(
                "insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, created_at) "
                "values (%s, %s, 'page_view', 'late', %s)",
                (newcomer, workspace_a, late_hour + timedelta(minutes=10)),
            )
            # all of one user's events in another workspace, a user with no run in that hour: the
            # hour has one active user fewer
            deleted_in = conn.execute(
                """
                with chosen as (
                    select events.workspace_id, events.user_id
                    from analytics.user_activity as events
                    where events.created_at >= %(hour)s and events.created_at < %(hour)s + interval '1 hour'
                        and events.workspace_id <> %(a)s
                        and not exists (
                            select from public.agent_runs as runs
                            where runs.workspace_id = events.workspace_id and runs.user_id = events.user_id
                                and runs.started_at >= %(hour)s and runs.started_at < %(hour)s + interval '1 hour')
                    order by events.workspace_id, events.user_id
                    limit 1
                )
                delete from analytics.user_activity as events
                using chosen
                where events.workspace_id = chosen.workspace_id and events.user_id = chosen.user_id
                    and events.created_at >= %(hour)s and events.created_at < %(hour)s + interval '1 hour'
                returning events.workspace_id
                """,
                {"hour": late_hour, "a": workspace_a},
            ).fetchone()
    return {"workspace_a": workspace_a, "workspace_b": workspace_b, "user_a": user_a, "newcomer": newcomer,
            "updated_run": earlier, "late_hour": late_hour, "deleted_in": deleted_in[0] if deleted_in else None}


@pytest.fixture(scope="module")
def changed(make_database):
    """A built database that the app has written to since its build."""
    project_db = make_database(seed=23)
    project_db.build(data_tests=False)
    written = write_since_the_build(project_db)
    return project_db, written


def service_rows(project_db, query: str, params: tuple = ()) -> list[dict]:
    with project_db.api() as conn, acting_as(conn, "service_role"):
        return fetch(conn, query, params)


def test_the_live_hours_and_day_equal_the_raw_rows_before_any_build(changed):
    project_db, _ = changed
    with project_db.connect() as conn:
        raw = oracle.load(conn)
    start = today_start()
    expected_hours = {k: v for k, v in oracle.hourly_metrics(raw, start.date()).items() if k[0] >= start}
    live_hours = service_rows(project_db, "select * from analytics.live_hourly_metrics()")
    compare(keyed(live_hours, ("metric_hour", "workspace_id"), HOURLY_COLUMNS), expected_hours, "live hours")
    expected_day = live_days_of(raw, lambda day, _: day == start.date())
    live_day = service_rows(project_db, "select * from analytics.live_daily_metrics()")
    compare(keyed(live_day, ("metric_date", "workspace_id"), LIVE_DAILY_COLUMNS), expected_day, "live day")
    # the newcomer made two workspaces and the platform one user richer, as a new user
    assert expected_day, "no activity today: the test would show nothing"


def test_a_late_event_and_a_deletion_in_an_hour_already_built_count_at_once(changed):
    """A late event (workspace A) and deleted events (another workspace) in an hour of today that
    the last build wrote: the live hours count them at once, the table only after the next build.
    What any live part that takes built hours must get right (docs/performance.md, "The live
    hour from the built hours")."""
    project_db, written = changed
    late_hour = written["late_hour"]
    if late_hour is None:
        pytest.skip("in the UTC day's first hour no hour of today is built yet")
    with project_db.connect() as conn:
        raw = oracle.load(conn)
        built = keyed(fetch(conn, "select * from analytics.hourly_metrics where metric_hour = %s", (late_hour,)),
                      ("metric_hour", "workspace_id"), HOURLY_COLUMNS)
    start = today_start()
    expected = {k: v for k, v in oracle.hourly_metrics(raw, start.date()).items() if k[0] >= start}
    touched = [written["workspace_a"]] + ([written["deleted_in"]] if written["deleted_in"] else [])
    for workspace in touched:
        live = keyed(service_rows(project_db, "select * from analytics.live_hourly_metrics(%s)", (workspace,)),
                     ("metric_hour", "workspace_id"), HOURLY_COLUMNS)
        compare(live, {k: v for k, v in expected.items() if k[1] == workspace}, f"live hours of {workspace}")
        # the table is behind in that hour (the late user is not counted, the deleted user is):
        # only the recomputed hour can be right
        assert built.get((late_hour, workspace)) != expected.get((late_hour, workspace)), workspace


def test_a_member_reads_their_workspaces_live_and_nothing_else(changed):
    project_db, written = changed
    everything = service_rows(project_db, "select * from analytics.live_hourly_metrics()")
    with project_db.connect() as conn:
        theirs = {w for (w,) in conn.execute(
            "select workspace_id from public.workspace_members where user_id = %s", (written["newcomer"],))}
        stranger_workspace = conn.execute(
            "select id from public.workspaces where id <> all(%s) order by id limit 1", (list(theirs),)).fetchone()[0]
        raw = oracle.load(conn)
    # a few workspaces' day is computed without the platform's rows: their figures must not change
    expected_day = live_days_of(raw, lambda day, workspace: day == today_start().date() and workspace in theirs)
    expected = keyed([row for row in everything if row["workspace_id"] in theirs],
                     ("metric_hour", "workspace_id"), HOURLY_COLUMNS)
    with project_db.api() as conn:
        with acting_as(conn, "authenticated", written["newcomer"]):
            seen = fetch(conn, "select * from analytics.member_live_hourly_metrics()")
            one = fetch(conn, "select * from analytics.member_live_hourly_metrics(%s)", (written["workspace_b"],))
            day = fetch(conn, "select * from analytics.member_live_daily_metrics()")
        with acting_as(conn, "authenticated", written["newcomer"]):
            stranger = fetch(conn, "select * from analytics.member_live_hourly_metrics(%s)", (stranger_workspace,))
    assert keyed(seen, ("metric_hour", "workspace_id"), HOURLY_COLUMNS) == expected
    assert {row["workspace_id"] for row in one} == {written["workspace_b"]}
    assert {row["workspace_id"] for row in day} == theirs
    compare(keyed(day, ("metric_date", "workspace_id"), LIVE_DAILY_COLUMNS), expected_day, "a member's live day")
    assert stranger == []


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("function", ["live_hourly_metrics()", "live_daily_metrics()"])
def test_the_platform_wide_doors_refuse_anon_and_members(changed, role, function):
    project_db, written = changed
    with project_db.api() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        with acting_as(conn, role, written["user_a"] if role == "authenticated" else None):
            conn.execute(f"select * from analytics.{function}")


@pytest.mark.parametrize("function", ["member_live_hourly_metrics()", "member_live_daily_metrics()"])
def test_anon_cannot_read_a_member_door(changed, function):
    project_db, _ = changed
    with project_db.api() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        with acting_as(conn, "anon"):
            conn.execute(f"select * from analytics.{function}")


def test_a_workspace_named_twice_counts_its_runs_and_events_once(changed):
    """The live part reads a workspace's runs one workspace at a time: an array that names a
    workspace twice must not read them twice."""
    project_db, written = changed
    workspace = written["workspace_a"]
    with project_db.connect() as conn:
        for function in ("live_hourly_metrics", "live_daily_metrics"):
            once = fetch(conn, f"select * from analytics_internal.{function}(%s, null) order by 1, 2", ([workspace],))
            twice = fetch(conn, f"select * from analytics_internal.{function}(%s, null) order by 1, 2",
                          ([workspace, workspace],))
            assert once and any(row["total_runs"] for row in once), f"{function}: no live runs, the test would show nothing"
            # each call stamps its rows with its own now()
            stamps = {"created_at", "as_of"}
            assert ([{k: v for k, v in row.items() if k not in stamps} for row in twice]
                    == [{k: v for k, v in row.items() if k not in stamps} for row in once]), function


def refresh_live_snapshot(project_db) -> datetime:
    """The snapshot taken as the worker's `live` step takes it; when it was taken."""
    with project_db.connect() as conn:
        assert conn.execute("select analytics.refresh_live_metrics()").fetchone()[0] > 0
        taken = dict(conn.execute("select kind, taken_at from analytics_internal.live_snapshots").fetchall())
    assert taken.keys() == {"hourly", "daily"} and taken["hourly"] == taken["daily"]
    return taken["hourly"]


def forget_live_snapshot(project_db) -> None:
    with project_db.connect() as conn:
        conn.execute("delete from analytics_internal.live_snapshots")


def test_a_snapshot_answers_while_at_most_a_minute_old_then_the_raw_rows_do(changed):
    """docs/live-metrics.md, "The snapshot": a member's call reads what the raw rows said when the
    snapshot was taken (its rows stamped then), while it is at most a minute old; an API call and
    an error written since count only once it is older."""
    project_db, written = changed
    workspace = written["workspace_a"]
    start = today_start()
    try:
        with project_db.connect() as conn:
            raw_then = oracle.load(conn)
        taken_at = refresh_live_snapshot(project_db)
        with project_db.connect() as conn:
            conn.execute(
                "insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, metadata) "
                "values (%(u)s, %(w)s, 'api_call', 'after', '{\"response_time_ms\": 98765}'), "
                "(%(u)s, %(w)s, 'error', 'after', '{\"error_type\": \"timeout\"}')",
                {"u": written["user_a"], "w": workspace},
            )
            raw_now = oracle.load(conn)
            stranger = conn.execute("select id from public.workspaces where id not in "
                                    "(select workspace_id from public.workspace_members where user_id = %s) "
                                    "order by id limit 1", (written["newcomer"],)).fetchone()[0]

        def member_reads() -> tuple[list[dict], list[dict], list[dict]]:
            with project_db.api() as conn, acting_as(conn, "authenticated", written["newcomer"]):
                return (fetch(conn, "select * from analytics.member_live_hourly_metrics(%s)", (workspace,)),
                        fetch(conn, "select * from analytics.member_live_daily_metrics(%s)", (workspace,)),
                        fetch(conn, "select * from analytics.member_live_hourly_metrics(%s)", (stranger,)))

        def expected(raw: oracle.Raw) -> tuple[dict, dict]:
            hours = {k: v for k, v in oracle.hourly_metrics(raw, start.date()).items()
                     if k[0] >= start and k[1] == workspace}
            return hours, live_days_of(raw, lambda day, w: day == start.date() and w == workspace)

        hours, day, strangers = member_reads()
        hours_then, day_then = expected(raw_then)
        compare(keyed(hours, ("metric_hour", "workspace_id"), HOURLY_COLUMNS), hours_then, "the snapshot's hours")
        compare(keyed(day, ("metric_date", "workspace_id"), LIVE_DAILY_COLUMNS), day_then, "the snapshot's day")
        assert {row["created_at"] for row in hours if row["metric_hour"] >= start} == {taken_at}
        assert {row["as_of"] for row in day} == {taken_at}
        assert strangers == []
        hours_now, day_now = expected(raw_now)
        assert hours_now != hours_then and day_now != day_then, "the writes change nothing: the test would show nothing"

        # a snapshot that starts after the call's live part does not answer it, nor one over a minute old
        for change in ("live_from = live_from + interval '2 days'",
                       "live_from = live_from - interval '2 days', taken_at = taken_at - interval '61 seconds'"):
            with project_db.connect() as conn:
                conn.execute(f"update analytics_internal.live_snapshots set {change}")
            hours, day, strangers = member_reads()
            compare(keyed(hours, ("metric_hour", "workspace_id"), HOURLY_COLUMNS), hours_now, f"{change}: hours")
            compare(keyed(day, ("metric_date", "workspace_id"), LIVE_DAILY_COLUMNS), day_now, f"{change}: day")
            assert taken_at not in {row["as_of"] for row in day} and strangers == []
    finally:
        forget_live_snapshot(project_db)


@pytest.mark.parametrize("since", ["-infinity", "infinity", "1900-01-01", "2999-12-31"])
def test_a_snapshot_answers_extreme_starts_as_the_raw_rows_do(changed, since):
    """What a member passes as p_since reaches the snapshot's read too: the far past, the far
    future and the infinities give what computing from the raw rows gives, stamps aside."""
    project_db, written = changed

    def member_reads() -> tuple[list[dict], list[dict]]:
        with project_db.api() as conn, acting_as(conn, "authenticated", written["newcomer"]):
            return (fetch(conn, "select * from analytics.member_live_hourly_metrics(null, %s) order by 1, 2", (since,)),
                    fetch(conn, "select * from analytics.member_live_daily_metrics(null, %s::date) order by 1, 2",
                          (since,)))

    computed = member_reads()
    try:
        refresh_live_snapshot(project_db)
        from_snapshot = member_reads()
    finally:
        forget_live_snapshot(project_db)
    assert [unstamped(rows) for rows in from_snapshot] == [unstamped(rows) for rows in computed]


def wait_until_waiting_on_a_lock(project_db, pid: int, failure: str, seconds: float = 10) -> None:
    """Until the session `pid` waits on a lock; the test fails with `failure` if it does not."""
    wait_until(lambda: project_db.value("select wait_event_type = 'Lock' from pg_stat_activity where pid = %s",
                                        (pid,)), failure, seconds)


def test_two_refreshes_at_once_take_turns_and_leave_one_snapshot(changed):
    """The worker and a pg_cron job may refresh at the same moment: the second waits for the
    first, then replaces its rows; it does not add its own beside them."""
    project_db, _ = changed
    try:
        with project_db.connect() as first, project_db.connect() as second:
            second_pid = second.info.backend_pid
            with first.transaction():
                written = first.execute("select analytics.refresh_live_metrics()").fetchone()[0]
                waiting = threading.Thread(target=second.execute, args=("select analytics.refresh_live_metrics()",))
                waiting.start()
                wait_until_waiting_on_a_lock(project_db, second_pid, "the second refresh did not wait for the first")
            waiting.join(timeout=60)
            assert not waiting.is_alive()
        with project_db.connect() as conn:
            hourly = conn.execute("select count(*), count(distinct (metric_hour, workspace_id)) "
                                  "from analytics_internal.live_hourly_snapshot").fetchone()
            daily = conn.execute("select count(*), count(distinct (metric_date, workspace_id)) "
                                 "from analytics_internal.live_daily_snapshot").fetchone()
        assert hourly[0] == hourly[1] and daily[0] == daily[1]
        assert hourly[0] + daily[0] == written
    finally:
        forget_live_snapshot(project_db)


@pytest.mark.parametrize("kind", ["hourly", "daily"])
def test_a_refresh_that_commits_during_a_call_changes_nothing_it_returns(changed, kind):
    """A call looks at live_snapshots, then reads the snapshot's rows: two statements, which see
    the database as of one moment, the call's (the live functions are STABLE). Here a refresh
    that moves the live part past the call's (the next UTC day's first one) commits between the
    two: the call waits on the lock it holds. The call still returns the rows of the snapshot it
    found fresh, not the built rows alone. Made VOLATILE, the functions read the new, empty
    snapshot and return no live rows."""
    project_db, written = changed
    door = f"analytics.member_live_{kind}_metrics"
    table = f"analytics_internal.live_{kind}_snapshot"

    def member_call(conn: psycopg.Connection) -> list[dict]:
        with acting_as(conn, "authenticated", written["newcomer"]):
            return fetch(conn, f"select * from {door}(%s) order by 1", (written["workspace_a"],))

    try:
        refresh_live_snapshot(project_db)
        with project_db.api() as conn:
            before = member_call(conn)
        live_part = [row for row in before if (row["metric_date"] == today_start().date() if kind == "daily"
                                               else row["metric_hour"] >= today_start())]
        assert live_part, "no live rows: the test would show nothing"
        with project_db.connect() as refresh, project_db.api() as caller:
            caller_pid = caller.info.backend_pid
            answers: list[list[dict]] = []
            with refresh.transaction():
                refresh.execute(f"lock table {table} in access exclusive mode")
                call = threading.Thread(target=lambda: answers.append(member_call(caller)))
                call.start()
                wait_until_waiting_on_a_lock(project_db, caller_pid, "the call did not wait for the refresh")
                refresh.execute(f"delete from {table}")
                refresh.execute("update analytics_internal.live_snapshots set taken_at = now(), "
                                "live_from = live_from + interval '1 day' where kind = %s", (kind,))
            call.join(timeout=60)
            assert not call.is_alive()
        assert answers == [before]
    finally:
        forget_live_snapshot(project_db)


def test_on_a_standby_a_call_computes_what_the_primary_answers(changed, test_cluster):
    """Supabase's read replicas are standbys, which cannot read an unlogged table: there a
    member's call neither reads the snapshot nor looks at live_snapshots (PostgreSQL refuses to
    plan the statement), and computes from the raw rows what the primary answers from its fresh
    snapshot."""
    project_db, written = changed
    folder = Path(tempfile.mkdtemp(prefix="aa-standby-"))
    standby = None
    try:
        taken_at = refresh_live_snapshot(project_db)
        primary = member_live_reads(project_db, written)
        standby = test_cluster.standby(folder / "data", folder / "run")
        replica = dataclasses.replace(project_db, server=standby.server().database(project_db.target.dbname))
        with project_db.connect() as conn:
            written_up_to = conn.execute("select pg_current_wal_lsn()").fetchone()[0]
        with replica.connect() as conn:
            assert conn.execute("select pg_is_in_recovery()").fetchone()[0]
            wait_until(lambda: conn.execute("select pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                            (written_up_to,)).fetchone()[0],
                       f"the standby did not replay up to {written_up_to}")
            with pytest.raises(psycopg.errors.FeatureNotSupported, match="unlogged"):
                conn.execute("select * from analytics_internal.live_snapshots")
        on_standby = member_live_reads(replica, written)
        assert [unstamped(rows) for rows in on_standby] == [unstamped(rows) for rows in primary]
        assert {row["as_of"] for row in primary[1]} == {taken_at}
        assert taken_at not in {row["as_of"] for row in on_standby[1]}
    finally:
        if standby is not None:
            standby.stop()
        shutil.rmtree(folder, ignore_errors=True)
        forget_live_snapshot(project_db)


def member_live_reads(project_db, written: dict) -> tuple[list[dict], list[dict]]:
    """The newcomer's live hours and day of workspace A, as PostgREST asks for them."""
    with project_db.api() as conn, acting_as(conn, "authenticated", written["newcomer"]):
        return (fetch(conn, "select * from analytics.member_live_hourly_metrics(%s) order by 1, 2",
                      (written["workspace_a"],)),
                fetch(conn, "select * from analytics.member_live_daily_metrics(%s) order by 1, 2",
                      (written["workspace_a"],)))


def unstamped(rows: list[dict]) -> list[dict]:
    """Rows without the time they are as of (the snapshot's, or the call's)."""
    return [{k: v for k, v in row.items() if k not in ("created_at", "as_of")} for row in rows]


@pytest.mark.parametrize("statement", [
    "select analytics.refresh_live_metrics()",
    "select analytics_internal.refresh_live_hourly_snapshot()",
    "select * from analytics_internal.live_hourly_snapshot",
    "select * from analytics_internal.live_daily_snapshot",
    "update analytics_internal.live_snapshots set taken_at = now()",
])
def test_no_api_role_reads_or_refreshes_the_snapshot(changed, statement):
    project_db, written = changed
    for role, user in (("anon", None), ("authenticated", written["newcomer"]), ("service_role", None)):
        with project_db.api() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            with acting_as(conn, role, user):
                conn.execute(statement)


def test_the_next_build_writes_what_the_live_rows_said_and_older_rows_come_from_the_tables(changed):
    project_db, _ = changed
    since = today_start() - timedelta(days=2)
    live_hours = service_rows(project_db, "select * from analytics.live_hourly_metrics(null, %s)", (since,))
    live_day = service_rows(project_db, "select * from analytics.live_daily_metrics(null, %s)", (since.date(),))
    project_db.build()
    with project_db.connect() as conn:
        built_hours = fetch(conn, "select * from analytics.hourly_metrics where metric_hour >= %s", (since,))
        built_days = fetch(conn, "select * from analytics.daily_metrics where metric_date >= %s", (since.date(),))
    hour_key, day_key = ("metric_hour", "workspace_id"), ("metric_date", "workspace_id")
    assert keyed(live_hours, hour_key, ("id", *HOURLY_COLUMNS)) == keyed(built_hours, hour_key, ("id", *HOURLY_COLUMNS))
    assert keyed(live_day, day_key, LIVE_DAILY_COLUMNS) == keyed(built_days, day_key, LIVE_DAILY_COLUMNS)
    assert {row["metric_date"] for row in live_day} >= {since.date(), today_start().date()}


def test_when_the_builds_stop_the_live_part_reaches_back_to_what_they_took_in(changed):
    """A worker dead since yesterday: yesterday's hours are computed from the raw rows too, so a
    late event of yesterday counts before any build takes it in."""
    project_db, written = changed
    yesterday = today_start() - timedelta(hours=20)
    with project_db.connect() as conn:
        conn.execute("update analytics_internal.build_watermarks set read_start = %s", (yesterday,))
        conn.execute(
            "insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, created_at) "
            "values (%s, %s, 'page_view', 'late', %s)",
            (written["newcomer"], written["workspace_a"], yesterday + timedelta(minutes=5)),
        )
        raw = oracle.load(conn)
    since = today_start() - timedelta(days=1)
    expected = {k: v for k, v in oracle.hourly_metrics(raw, since.date()).items() if k[0] >= since}
    live = service_rows(project_db, "select * from analytics.live_hourly_metrics(null, %s)", (since,))
    compare(keyed(live, ("metric_hour", "workspace_id"), HOURLY_COLUMNS), expected, "live hours since yesterday")
    # a workspace's days: the newcomer's first live day is now yesterday's late event, so they
    # are new yesterday and returning today
    expected_days = live_days_of(
        raw, lambda day, workspace: day >= since.date() and workspace == written["workspace_a"])
    days = service_rows(project_db, "select * from analytics.live_daily_metrics(%s, %s)",
                        (written["workspace_a"], since.date()))
    compare(keyed(days, ("metric_date", "workspace_id"), LIVE_DAILY_COLUMNS), expected_days,
            "a workspace's live days since yesterday")
    yesterday_a, today_a = (since.date(), written["workspace_a"]), (today_start().date(), written["workspace_a"])
    assert set(expected_days) == {yesterday_a, today_a}
    assert expected_days[yesterday_a]["new_users"] >= 1 and expected_days[today_a]["returning_users"] >= 1
    late_hour = (yesterday.replace(minute=0, second=0, microsecond=0), written["workspace_a"])
    with project_db.connect() as conn:
        built = conn.execute("select active_users from analytics.hourly_metrics where metric_hour = %s "
                             "and workspace_id = %s", late_hour).fetchone()
    # the table has not counted the newcomer in that hour: only the live part can have
    assert (built[0] if built else 0) == expected[late_hour]["active_users"] - 1


def test_a_workspace_with_the_platforms_reserved_id_shows_its_members_nothing(make_database):
    """The rollups key the platform's rows by the nil UUID (macro platform_scope_id). A workspace
    the app gave that id had its live figures computed as the platform's: its member read rows
    with workspace_id NULL, whose new users were looked up platform-wide (docs/security.md,
    "The platform's reserved id")."""
    project_db = make_database(seed=29)
    project_db.build(data_tests=False)
    reserved = uuid.UUID(int=0)
    with project_db.connect() as conn:
        member = conn.execute("select user_id from public.workspace_members order by user_id limit 1").fetchone()[0]
        conn.execute("insert into public.workspaces (id, name, plan) values (%s, 'reserved', 'free')", (reserved,))
        conn.execute("insert into public.workspace_members (workspace_id, user_id, role) values (%s, %s, 'member')",
                     (reserved, member))
        conn.execute(
            "insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, created_at) "
            "values (%s, %s, 'page_view', 'home', now())", (member, reserved))
    with project_db.api() as conn, acting_as(conn, "authenticated", member):
        reserved_hours = fetch(conn, "select * from analytics.member_live_hourly_metrics(%s)", (reserved,))
        reserved_day = fetch(conn, "select * from analytics.member_live_daily_metrics(%s)", (reserved,))
        every_day = fetch(conn, "select * from analytics.member_live_daily_metrics()")
    # staging leaves the workspace out: nothing of it, and none of the platform's rows
    assert reserved_hours == [] and reserved_day == []
    assert all(row["workspace_id"] is not None for row in every_day)
    # and the build warns, naming the id's problem
    output = project_db.build()
    assert any("workspace_id_is_not_the_platforms_reserved_id" in line and "WARN" in line
               for line in output.splitlines()), output
