"""analytics.user_activity_recent holds exactly the last days of user_activity (var
recent_activity_days, 8), whatever writes, deletes, updates or moves the events: compared row
for row, every column, with user_activity itself after each kind of change."""

from __future__ import annotations

import re
import threading
import time

import psycopg
import pytest

from agent_analytics import db
from agent_analytics.bench import deploy_lock
from conftest import acting_as, wait_until

RECENT_DAYS = 8  # dbt_project.yml
COLUMNS = ("id, user_id, workspace_id, event_type, event_name, page_path, session_id, ip_address, user_agent, "
           "referrer, metadata, created_at, ingested_at")


def differences(project_db, days: int = RECENT_DAYS) -> dict[str, int]:
    """Rows of the window in one table and not the other, and rows of the recent table that
    user_activity does not hold (at any time): all three are 0 when the two agree. The window
    ends a minute inside its edge, where an event may have just aged out of it."""
    counts = {}
    with project_db.connect() as conn:
        window = f"created_at >= now() - interval '{days} days' + interval '1 minute'"
        counts["missing from recent"] = conn.execute(
            f"select count(*) from (select {COLUMNS} from analytics.user_activity where {window} "
            f"except all select {COLUMNS} from analytics.user_activity_recent where {window}) as d").fetchone()[0]
        counts["only in recent"] = conn.execute(
            f"select count(*) from (select {COLUMNS} from analytics.user_activity_recent "
            f"except all select {COLUMNS} from analytics.user_activity) as d").fetchone()[0]
        counts["in the window"] = conn.execute(
            f"select count(*) from analytics.user_activity_recent where {window}").fetchone()[0]
    return counts


def agree(project_db, days: int = RECENT_DAYS) -> None:
    """The window of `days` (the deploy's recent_activity_days) equal in both tables."""
    counts = differences(project_db, days)
    assert counts["missing from recent"] == 0 and counts["only in recent"] == 0, counts
    assert counts["in the window"] > 0, counts


@pytest.fixture(scope="module")
def recent_db(make_database):
    project_db = make_database(seed=41)
    project_db.build(data_tests=False)  # cleanup_old_data() trims the rollups too
    return project_db


def a_member(project_db) -> tuple:
    return project_db.rows("select user_id, workspace_id from public.workspace_members order by 1, 2 limit 1")[0]


def test_the_generated_events_of_the_window_are_all_there(recent_db):
    agree(recent_db)
    assert recent_db.value(
        f"select count(*) from analytics.user_activity_recent where created_at < now() - interval '{RECENT_DAYS} days'"
    ) == 0


def test_an_event_recorded_through_track_event_is_there_in_the_same_transaction(recent_db):
    user_id, workspace_id = a_member(recent_db)
    with recent_db.api() as conn, acting_as(conn, "authenticated", user_id):
        event_id = conn.execute("select analytics.track_event('page_view', %s::uuid, 'recent-test')",
                                (workspace_id,)).fetchone()[0]
        assert conn.execute("select event_name from analytics.user_activity_recent where id = %s",
                            (event_id,)).fetchone() == ("recent-test",)


def test_inserts_of_the_window_and_before_it_updates_deletes_and_moves_are_mirrored(recent_db):
    user_id, workspace_id = a_member(recent_db)
    with recent_db.connect() as conn:
        far_future = conn.execute("select (now() at time zone 'UTC')::date + 30").fetchone()[0]
        conn.execute(
            "insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, created_at) values "
            "(%(u)s, %(w)s, 'login', 'late, in the window', now() - interval '2 days'), "
            "(%(u)s, %(w)s, 'login', 'before the window', now() - interval '20 days'), "
            "(%(u)s, %(w)s, 'login', 'waits in the default partition', %(far)s::timestamp at time zone 'UTC')",
            {"u": user_id, "w": workspace_id, "far": far_future})
        conn.execute("update analytics.user_activity set event_name = 'renamed' "
                     "where event_name = 'late, in the window'")
        conn.execute("update analytics.user_activity set created_at = now() - interval '30 days' "
                     "where id = (select id from analytics.user_activity_recent where created_at < now() "
                     "order by created_at desc limit 1)")
        conn.execute("update analytics.user_activity set created_at = now() - interval '1 hour' "
                     "where event_name = 'before the window'")
        conn.execute("delete from analytics.user_activity where id = "
                     "(select id from analytics.user_activity_recent order by created_at limit 1)")
        # the event of the DEFAULT partition moves into its week's new partition: no duplicate
        conn.execute("select analytics.ensure_user_activity_partitions(%s, %s)", (far_future, far_future))
        assert conn.execute("select count(*) from analytics.user_activity_recent "
                            "where event_name = 'waits in the default partition'").fetchone()[0] == 1
        assert conn.execute("select count(*) from analytics.user_activity_recent "
                            "where event_name in ('renamed', 'before the window')").fetchone()[0] == 2
    agree(recent_db)


def test_a_user_deleted_in_the_app_and_an_erased_user_leave_no_recent_event(recent_db):
    erased, deleted = [row[0] for row in recent_db.rows(
        "select user_id from analytics.user_activity_recent group by 1 order by count(*) desc limit 2")]
    with recent_db.connect_as("supabase_admin") as conn:
        conn.execute("delete from public.users where id = %s", (deleted,))
    with recent_db.api() as conn, acting_as(conn, "service_role", commit=True):
        conn.execute("select analytics.erase_user(%s)", (erased,))
    assert recent_db.value("select count(*) from analytics.user_activity_recent where user_id = any(%s)",
                           ([erased, deleted],)) == 0
    agree(recent_db)


def test_cleanup_removes_what_aged_out_of_the_window_and_nothing_else(recent_db):
    with recent_db.connect() as conn:
        # an event that aged out: the recent table's copy is dated back, as if days had passed
        conn.execute("alter table analytics.user_activity_recent disable row level security")
        aged = conn.execute(
            f"update analytics.user_activity_recent set created_at = now() - interval '{RECENT_DAYS} days 1 hour' "
            "where id = (select id from analytics.user_activity_recent order by created_at desc limit 1) "
            "returning id").fetchone()[0]
        conn.execute("alter table analytics.user_activity_recent enable row level security")
    kept = recent_db.value("select count(*) from analytics.user_activity_recent")
    with recent_db.api() as conn, acting_as(conn, "service_role", commit=True):
        conn.execute("select analytics.cleanup_old_data()")
    assert recent_db.value("select count(*) from analytics.user_activity_recent where id = %s", (aged,)) == 0
    assert recent_db.value("select count(*) from analytics.user_activity_recent") == kept - 1


def test_a_cleanup_under_a_statement_timeout_during_a_deploy_stops_saying_so_before_the_timeout(recent_db):
    """Through PostgREST (8 s for authenticator) a cleanup that waits for a longer deploy would
    end in a bare statement timeout; it stops before it, naming the deploy, and deletes
    nothing. With no deploy it runs, and the caller's lock_timeout is as it was."""
    kept = recent_db.value("select count(*) from analytics.user_activity_recent")
    with recent_db.connect() as deploying:
        deploying.execute("select pg_advisory_lock(hashtext('agent-analytics deploy'))")  # as deploy.sql
        with recent_db.api() as conn:
            conn.execute("set statement_timeout = '2s'")
            started = time.monotonic()
            with (pytest.raises(psycopg.errors.LockNotAvailable, match="a deploy is running"),
                  acting_as(conn, "service_role")):
                conn.execute("select analytics.cleanup_old_data()")
            assert time.monotonic() - started < 2
        deploying.execute("select pg_advisory_unlock(hashtext('agent-analytics deploy'))")
    assert recent_db.value("select count(*) from analytics.user_activity_recent") == kept
    with recent_db.api() as conn:
        conn.execute("set statement_timeout = '2s'")
        conn.execute("set lock_timeout = '3s'")
        with acting_as(conn, "service_role"):
            conn.execute("select analytics.cleanup_old_data()")
            assert conn.execute("show lock_timeout").fetchone()[0] == "3s"


def test_a_member_reads_every_recent_event_of_their_workspaces(recent_db):
    """That they read no other row, write nothing, and anon nothing: test_access.py's matrix, which
    covers every relation of the schema."""
    user_id, _ = a_member(recent_db)
    theirs = [w for (w,) in recent_db.rows("select workspace_id from public.workspace_members where user_id = %s",
                                           (user_id,))]
    expected = recent_db.value("select count(*) from analytics.user_activity_recent where workspace_id = any(%s)",
                               (theirs,))
    with recent_db.api() as conn, acting_as(conn, "authenticated", user_id):
        seen = conn.execute("select count(*) from analytics.user_activity_recent").fetchone()[0]
    assert seen == expected > 0


def test_a_truncate_of_user_activity_empties_it(make_database):
    project_db = make_database(seed=42)
    with project_db.connect() as conn:
        conn.execute("truncate analytics.user_activity")
    assert project_db.value("select count(*) from analytics.user_activity_recent") == 0


def test_an_event_written_while_the_deploy_makes_the_table_is_copied_and_waits_only_for_the_second_pass(
        make_database):
    """The deploy copies the window, then creates the triggers, which wait for the writes in
    flight; an event of a transaction open meanwhile, which the first copy could not see, is
    copied by the second."""
    project_db = make_database(seed=43)
    deploy_lock.forget_the_step(project_db.server)  # as the upgrade that brought the table finds it
    user_id, workspace_id = a_member(project_db)
    with db.connect(project_db.target, autocommit=False) as writer:
        writer.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
                       "values (%s, %s, 'login', 'written during the deploy')", (user_id, workspace_id))
        thread, deployed = deploy_in_background(project_db)
        wait_for_a_lock(project_db, "the deploy never waited for the write in flight")
        writer.commit()
        thread.join(120)
    assert "error" not in deployed, deployed
    assert re.search(r"applied .*\brecent_activity\b", str(deployed["output"]))
    assert project_db.value("select count(*) from analytics.user_activity_recent "
                            "where event_name = 'written during the deploy'") == 1
    agree(project_db)


def wait_for_a_lock(project_db, failure: str) -> None:
    """Until a session waits for user_activity's lock: the deploy, behind a write in flight."""
    with project_db.connect() as watcher:
        wait_until(lambda: watcher.execute(
            "select count(*) from pg_locks where not granted "
            "and relation = 'analytics.user_activity'::regclass").fetchone()[0],
            failure, seconds=120, every=0.2)


def deploy_in_background(project_db, dbt_vars: str | None = None) -> tuple[threading.Thread, dict[str, object]]:
    deployed: dict[str, object] = {}

    def deploy() -> None:
        try:
            deployed["output"] = project_db.deploy(dbt_vars=dbt_vars)
        except Exception as error:  # reported in the test's thread
            deployed["error"] = error

    thread = threading.Thread(target=deploy)
    thread.start()
    return thread, deployed


def test_the_deploy_of_a_wider_window_copies_its_day_and_what_was_written_while_it_waited(make_database):
    """Over a table already there, the step locks the event writes out first: it waits for the
    writes in flight, and what they wrote is there after it."""
    project_db = make_database(seed=44)
    user_id, workspace_id = a_member(project_db)
    with project_db.connect() as conn:
        conn.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, created_at) "
                     "values (%s, %s, 'login', 'eight and a half days ago', now() - interval '8 days 12 hours')",
                     (user_id, workspace_id))
    with db.connect(project_db.target, autocommit=False) as writer:
        writer.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
                       "values (%s, %s, 'login', 'written during the deploy')", (user_id, workspace_id))
        thread, deployed = deploy_in_background(project_db, "{recent_activity_days: 9}")
        wait_for_a_lock(project_db, "the deploy never waited for the write in flight")
        writer.commit()
        thread.join(180)
    assert "error" not in deployed, deployed
    assert re.search(r"applied .*\brecent_activity\b", str(deployed["output"]))
    ninth_day = ("select count(*) from {} where created_at >= now() - interval '9 days' "
                 "and created_at < now() - interval '8 days'")
    assert project_db.value(ninth_day.format("analytics.user_activity_recent")) == \
        project_db.value(ninth_day.format("analytics.user_activity")) > 0
    assert project_db.value("select count(*) from analytics.user_activity_recent "
                            "where event_name = 'written during the deploy'") == 1
    agree(project_db, 9)


def test_the_deploy_puts_back_no_event_deleted_and_keeps_no_old_version_of_one_updated_while_it_copies(
        make_database):
    """The first copy reads the window beside the writes; under the lock that follows, what an
    erasure deleted and what an update changed meanwhile is brought up to date. The update comes
    while the deploy waits for the lock, and waits on none of its rows."""
    project_db = make_database(seed=45)
    deploy_lock.forget_the_step(project_db.server)  # as the upgrade that brought the table finds it
    deleted, updated = project_db.rows(
        "select id from analytics.user_activity where created_at >= now() - interval '2 days' order by id limit 2")
    with db.connect(project_db.target, autocommit=False) as eraser:
        eraser.execute("delete from analytics.user_activity where id = %s", deleted)
        thread, deployed = deploy_in_background(project_db)
        wait_for_a_lock(project_db, "the deploy never waited for the erasure in flight")
        change_without_waiting(eraser, updated)
        eraser.commit()
        thread.join(180)
    assert "error" not in deployed, deployed
    gone_and_changed_in_the_copy(project_db, deleted, updated)
    agree(project_db)


def change_without_waiting(conn, updated: tuple, deleted: tuple | None = None) -> None:
    """In `conn`'s transaction, the event `deleted` deleted and `updated` changed; a wait on the
    deploy's rows makes it fail."""
    conn.execute("set local lock_timeout = '10s'")
    if deleted:
        conn.execute("delete from analytics.user_activity where id = %s", deleted)
    conn.execute("update analytics.user_activity set event_name = 'changed during the deploy' where id = %s", updated)


def gone_and_changed_in_the_copy(project_db, deleted: tuple, updated: tuple) -> None:
    assert project_db.value("select count(*) from analytics.user_activity_recent where id = %s", deleted) == 0
    assert project_db.value("select event_name from analytics.user_activity_recent where id = %s", updated) == \
        "changed during the deploy"


def test_a_deploy_of_the_step_writes_again_what_the_owner_changed_behind_the_triggers(make_database):
    """DML on a partition itself fires no trigger of user_activity: the step's next deploy
    finds the row that differs and writes it again, and the row deleted and deletes it."""
    project_db = make_database(seed=46)
    with project_db.connect() as conn:
        partition, event_id = conn.execute(
            "select tableoid::regclass::text, id from analytics.user_activity "
            "where created_at >= now() - interval '2 days' order by id limit 1").fetchone()
        conn.execute(f"update {partition} set event_name = 'changed behind the triggers' where id = %s", (event_id,))
        conn.execute(f"delete from {partition} where id = (select id from {partition} where id <> %s "
                     "order by id limit 1)", (event_id,))
    assert differences(project_db)["missing from recent"] == 1
    assert differences(project_db)["only in recent"] == 2
    project_db.deploy(dbt_vars="{recent_activity_days: 10}")
    agree(project_db, 10)


def test_the_added_days_of_a_wider_window_are_written_before_the_lock_and_writes_to_them_meanwhile_wait_for_nothing(
        make_database):
    """The added day is written beside the app's writes (the copy's file grows while the deploy
    still waits for the lock); a delete and an update of two of its events in a transaction
    open meanwhile wait on none of those rows, and the catch-up under the lock deletes the one
    and writes the other again."""
    project_db = make_database(seed=47)
    user_id, workspace_id = a_member(project_db)
    with project_db.connect() as conn:  # enough events that their copy must grow the file
        conn.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, created_at) "
                     "select %s, %s, 'login', 'the ninth day', now() - interval '8 days 12 hours' + n * interval '1 s' "
                     "from generate_series(1, 500) as n", (user_id, workspace_id))
    deleted, updated = project_db.rows(
        "select id from analytics.user_activity where event_name = 'the ninth day' order by id limit 2")
    size = "select pg_relation_size('analytics.user_activity_recent') / current_setting('block_size')::int"
    with db.connect(project_db.target, autocommit=False) as writer:
        writer.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
                       "values (%s, %s, 'login', 'written during the deploy')", (user_id, workspace_id))
        pages_before = project_db.value(size)
        thread, deployed = deploy_in_background(project_db, "{recent_activity_days: 9}")
        wait_for_a_lock(project_db, "the deploy never waited for the write in flight")
        assert project_db.value(size) >= pages_before + 5  # 500 events: about 15 pages
        change_without_waiting(writer, updated, deleted)
        writer.commit()
        thread.join(180)
    assert "error" not in deployed, deployed
    gone_and_changed_in_the_copy(project_db, deleted, updated)
    agree(project_db, 9)


@pytest.mark.parametrize("rounds", ["0", "-1"])
def test_measure_deploy_lock_refuses_rounds_below_one_naming_the_argument(rounds, capsys):
    with pytest.raises(SystemExit):
        deploy_lock.parse(["tiny", rounds])
    assert f"rounds must be 1 or more, not {rounds}" in capsys.readouterr().err


def test_an_event_type_that_user_activity_comes_to_accept_is_copied_and_a_copy_from_before_loses_its_checks(
        make_database):
    """The copy checks nothing of its own: when user_activity's check of event types is widened
    (a new version of the project, a new kind of event), an event of the new type is written and
    copied. A copy made with user_activity's checks, as an earlier version made it, loses them
    at the next deploy that finds no reader of it for a second; one that does keeps it and
    succeeds."""
    project_db = make_database(seed=48)
    check = project_db.value("select pg_get_constraintdef(oid) from pg_constraint "
                             "where conrelid = 'analytics.user_activity'::regclass and conname = 'valid_event_type'")
    with project_db.connect() as conn:
        conn.execute(f"alter table analytics.user_activity_recent add constraint valid_event_type {check}")
    checks = ("select count(*) from pg_constraint where contype = 'c' "
              "and conrelid = 'analytics.user_activity_recent'::regclass")
    with db.connect(project_db.target, autocommit=False) as reader:
        reader.execute("select count(*) from analytics.user_activity_recent")
        project_db.deploy()
        assert project_db.value(checks) == 1
    project_db.deploy()
    assert project_db.value(checks) == 0
    user_id, workspace_id = a_member(project_db)
    with project_db.connect() as conn:
        conn.execute("alter table analytics.user_activity drop constraint valid_event_type, add constraint "
                     f"valid_event_type check ({check.removeprefix('CHECK ')} or event_type = 'a new kind')")
        conn.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
                     "values (%s, %s, 'a new kind', 'of event')", (user_id, workspace_id))
    assert project_db.value("select count(*) from analytics.user_activity_recent "
                            "where event_type = 'a new kind'") == 1
    agree(project_db)


def test_an_event_written_in_a_savepoint_of_a_transaction_open_during_the_first_deploy_is_copied(make_database):
    """A row written in a subtransaction carries the subtransaction's id, which
    pg_visible_in_snapshot takes for seen while its top transaction is open: the catch-up must
    copy it all the same (the triggers did not exist when it was written)."""
    project_db = make_database(seed=49)
    deploy_lock.forget_the_step(project_db.server)
    user_id, workspace_id = a_member(project_db)
    with db.connect(project_db.target, autocommit=False) as writer:
        writer.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
                       "values (%s, %s, 'login', 'before the savepoint')", (user_id, workspace_id))
        writer.execute("savepoint an_event")
        writer.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
                       "values (%s, %s, 'login', 'in the savepoint')", (user_id, workspace_id))
        writer.execute("release savepoint an_event")
        thread, deployed = deploy_in_background(project_db)
        wait_for_a_lock(project_db, "the deploy never waited for the write in flight")
        writer.commit()
        thread.join(180)
    assert "error" not in deployed, deployed
    assert project_db.value("select count(*) from analytics.user_activity_recent "
                            "where event_name = 'in the savepoint'") == 1
    agree(project_db)


def test_a_cleanup_called_during_a_deploy_that_widens_the_window_waits_for_it_and_keeps_the_added_day(
        make_database):
    """cleanup_old_data() as it was made before the deploy would delete the added day; it waits
    for the deploy and then reads the window the deploy made."""
    project_db = make_database(seed=50)
    project_db.build(data_tests=False)  # cleanup_old_data() trims the rollups too
    user_id, workspace_id = a_member(project_db)
    with project_db.connect() as conn:
        conn.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, created_at) "
                     "values (%s, %s, 'login', 'eight and a half days ago', now() - interval '8 days 12 hours')",
                     (user_id, workspace_id))
    cleaned: dict[str, object] = {}

    def cleanup() -> None:
        try:
            with project_db.api() as conn:
                conn.execute("set statement_timeout = 0")  # as the worker and pg_cron call it
                with acting_as(conn, "service_role", commit=True):
                    conn.execute("select analytics.cleanup_old_data()")
            cleaned["done"] = True
        except Exception as error:  # reported in the test's thread
            cleaned["error"] = error

    with db.connect(project_db.target, autocommit=False) as writer:
        writer.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
                       "values (%s, %s, 'login', 'written during the deploy')", (user_id, workspace_id))
        thread, deployed = deploy_in_background(project_db, "{recent_activity_days: 9}")
        wait_for_a_lock(project_db, "the deploy never waited for the write in flight")
        cleaner = threading.Thread(target=cleanup)
        cleaner.start()
        with project_db.connect() as watcher:
            wait_until(lambda: watcher.execute(
                "select count(*) from pg_locks where locktype = 'advisory' and not granted").fetchone()[0],
                "the cleanup never waited for the deploy", seconds=60, every=0.2)
        writer.commit()
        thread.join(180)
        cleaner.join(180)
    assert "error" not in deployed, deployed
    assert cleaned == {"done": True}, cleaned
    assert project_db.value("select count(*) from analytics.user_activity_recent "
                            "where event_name = 'eight and a half days ago'") == 1
    agree(project_db, 9)


def test_with_a_trigger_disabled_the_step_looks_for_deletes_in_the_whole_window(make_database):
    """The copy's triggers missed what was written while one was disabled: an event deleted
    after the step noted what differs (while it waits for the lock) is looked for in the whole
    window, not only in the days it added, and deleted from the copy."""
    project_db = make_database(seed=51)
    user_id, workspace_id = a_member(project_db)
    deleted = project_db.rows(
        "select id from analytics.user_activity where created_at >= now() - interval '2 days' order by id limit 1")[0]
    with project_db.connect() as conn:
        conn.execute("alter table analytics.user_activity disable trigger user_activity_forget_recent")
    with db.connect(project_db.target, autocommit=False) as writer:
        writer.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
                       "values (%s, %s, 'login', 'written during the deploy')", (user_id, workspace_id))
        thread, deployed = deploy_in_background(project_db, "{recent_activity_days: 9}")
        wait_for_a_lock(project_db, "the deploy never waited for the write in flight")
        writer.execute("delete from analytics.user_activity where id = %s", deleted)
        writer.commit()
        thread.join(180)
    assert "error" not in deployed, deployed
    assert project_db.value("select count(*) from analytics.user_activity_recent where id = %s", deleted) == 0
    agree(project_db, 9)
