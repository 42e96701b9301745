"""The owner's deploy and the least-privileged build, on a database built like Supabase's:
a re-run changes nothing, an upgrade applies what changed, the build refuses to run on a
missing or older deploy or when it cannot read every row of the app, and the Supabase CLI
migration it writes is the same deploy."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from agent_analytics import bootstrap, db, dbt

# What a deploy defines: every object of the project's schemas with its definition, owner and
# privileges. Equal before and after means the deploy changed nothing anyone could see.
CATALOG = """
select 'relation', c.oid::regclass::text, c.relkind::text, pg_get_userbyid(c.relowner), c.relacl::text,
       c.relrowsecurity::text
from pg_class as c
where c.relnamespace in ('analytics'::regnamespace, 'analytics_internal'::regnamespace, 'analytics_app'::regnamespace)
union all
select 'function', p.oid::regprocedure::text, md5(pg_get_functiondef(p.oid)), pg_get_userbyid(p.proowner),
       p.proacl::text, p.xmin::text
from pg_proc as p
where p.pronamespace in ('analytics'::regnamespace, 'analytics_internal'::regnamespace)
union all
select 'policy', pol.polname || ' on ' || pol.polrelid::regclass::text, pg_get_expr(pol.polqual, pol.polrelid),
       pol.polroles::text, null, null
from pg_policy as pol
where pol.polrelid in (select oid from pg_class where relnamespace = 'analytics'::regnamespace)
union all
select 'trigger', t.tgname || ' on ' || t.tgrelid::regclass::text, pg_get_triggerdef(t.oid), null, null, null
from pg_trigger as t
where not t.tgisinternal
  and t.tgrelid in (select oid from pg_class where relnamespace = 'analytics'::regnamespace)
union all
select 'schema', n.nspname, null, pg_get_userbyid(n.nspowner), n.nspacl::text, null
from pg_namespace as n
where n.nspname like 'analytics%'
union all
select 'role', r.rolname, r.rolsuper::text || r.rolbypassrls::text || r.rolcanlogin::text, null,
       (select string_agg(m.roleid::regrole::text, ',' order by 1) from pg_auth_members as m where m.member = r.oid),
       null
from pg_roles as r
where r.rolname = 'analytics_builder'
order by 1, 2
"""


@pytest.fixture(scope="module")
def deployed(make_database):
    project_db = make_database(seed=31)
    project_db.build(data_tests=False)
    return project_db


def catalog(project_db) -> list[tuple]:
    return project_db.rows(CATALOG)


def watermarks(project_db) -> list[tuple]:
    return project_db.rows("select * from analytics_internal.build_watermarks order by 1")


def assert_the_build_stops_before_it_reads(project_db, *messages: str) -> None:
    """The build fails, names what is wrong and the fix, and no model moved its watermark."""
    before = watermarks(project_db)
    with pytest.raises(dbt.DbtFailed) as failure:
        project_db.build()
    for message in messages:
        assert message in str(failure.value)
    assert watermarks(project_db) == before


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("track_event_per_minute", "0", "a whole number of events from 1 to 1000000, not 0"),
    ("track_event_per_minute", "'many'", "a whole number of events from 1 to 1000000, not many"),
    ("credit_price_usd", "-0.01", "a price in USD from 0 to 1000, not -0.01"),
    ("credit_price_usd", "'0.01); drop table analytics.user_activity; --'", "a price in USD from 0 to 1000, not 0.01"),
    ("trusted_proxies", "0", "a whole number of proxies from 1 to 10, not 0"),
    ("trusted_proxies", "'1 + 1'", "a whole number of proxies from 1 to 10, not 1 \\+ 1"),
    ("raw_event_retention_days", "0", "a whole number of days from 1 to 3650, not 0"),
    ("commit_margin", "\"1 minute'; drop table analytics.user_activity; --\"",
     "a time such as '10 minutes', not 1 minute'"),
])
def test_a_var_of_the_wrong_kind_or_out_of_range_stops_the_deploy_naming_it(deployed, name, value, expected):
    """The deploy writes these vars into its SQL: anything else would fail there without naming the
    var, or change what the SQL does."""
    with pytest.raises(dbt.DbtFailed, match=f"var {name}: {expected}"):
        bootstrap.deploy_script(deployed.target, ("--vars", f"{{{name}: {value}}}",
                                                  "--target-path", str(deployed.target_path)))


def test_a_build_var_of_the_wrong_kind_stops_the_build_naming_it(deployed):
    with pytest.raises(dbt.DbtFailed, match="var report_date: a day such as 2026-06-30, or null, not 2026-06-31 or so"):
        deployed.dbt("build", "--vars", "{report_date: '2026-06-31 or so'}")


def test_a_second_deploy_changes_nothing(deployed):
    before = catalog(deployed)
    output = deployed.deploy()
    assert "nothing changed" in output
    # function rows keep their xmin: not even a `create or replace` ran
    assert catalog(deployed) == before


def test_an_upgrade_applies_only_the_steps_whose_sql_changed(deployed):
    before = {row[1]: row for row in catalog(deployed) if row[0] == "function"}
    with deployed.connect() as conn:
        conn.execute("update analytics_internal.deploy_steps set checksum = 'an older version' "
                     "where step = 'alert_evaluation'")
    output = deployed.deploy()
    assert "applied alert_evaluation;" in output
    after = {row[1]: row for row in catalog(deployed) if row[0] == "function"}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"analytics.evaluate_alerts(timestamp with time zone)"}


DISABLED_TRIGGERS = """
select t.tgname from pg_trigger as t
where not t.tgisinternal and t.tgenabled not in ('O', 'A')
  and t.tgrelid in (select oid from pg_class where relnamespace = 'analytics'::regnamespace)
"""


def enable_every_trigger(project_db) -> None:
    """The triggers a test disabled, on again, so that a failed test leaves the module's
    database as it found it."""
    with project_db.connect() as conn:
        conn.execute("alter table analytics.user_activity enable trigger user_activity_copy_recent")
        conn.execute("alter table analytics.user_activity enable trigger stamp_ingested_at")
        conn.execute("alter table analytics.audit_log enable trigger audit_log_append_only")


def test_a_deploy_enables_the_triggers_it_finds_disabled_and_the_copy_they_kept_catches_up(deployed):
    """Unchanged steps run again for a trigger disabled by hand, or replica-only, or disabled on
    one partition: each fires again, and the recent events written while the copy's trigger was
    off are in the copy."""
    user_id, workspace_id = deployed.rows("select user_id, workspace_id from public.workspace_members limit 1")[0]
    write_event = ("insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
                   "values (%s, %s, 'login', %s) returning id")
    try:
        with deployed.connect() as conn:
            conn.execute("alter table analytics.user_activity disable trigger user_activity_copy_recent")
            conn.execute("alter table analytics.audit_log enable replica trigger audit_log_append_only")
            partition = conn.execute("select inhrelid::regclass::text from pg_inherits "
                                     "where inhparent = 'analytics.user_activity'::regclass limit 1").fetchone()[0]
            conn.execute(f"alter table {partition} disable trigger stamp_ingested_at")
            missed = conn.execute(write_event, (user_id, workspace_id, "while the copy was off")).fetchone()[0]
        assert deployed.value("select count(*) from analytics.user_activity_recent where id = %s", (missed,)) == 0
        output = deployed.deploy()
    except BaseException:
        enable_every_trigger(deployed)
        raise
    assert deployed.rows(DISABLED_TRIGGERS) == []
    assert deployed.value("select count(*) from pg_trigger where tgname = 'stamp_ingested_at' "
                          "and tgenabled <> 'O'") == 0
    assert "trigger user_activity_copy_recent was disabled" in output
    assert "step recent_activity runs again" in output
    assert "step audit_log runs again" in output
    assert "step user_activity runs again" in output
    assert "still disabled" not in output
    with deployed.connect() as conn:
        after = conn.execute(write_event, (user_id, workspace_id, "after the deploy")).fetchone()[0]
        conn.execute("select analytics.write_audit('a row to delete', null, '{}')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("delete from analytics.audit_log")
    assert deployed.value("select count(*) from analytics.user_activity_recent where id = any(%s)",
                          ([missed, after],)) == 2
    assert "nothing changed" in deployed.deploy()


def test_a_trigger_whose_table_stays_busy_stays_disabled_and_the_next_deploy_enables_it(deployed):
    """The enable waits half a second for the table's writes in flight, then leaves the trigger
    for the next deploy and says so: the app's writes do not queue behind it."""
    with deployed.connect() as conn:
        conn.execute("alter table analytics.audit_log disable trigger audit_log_append_only")
    try:
        with db.connect(deployed.target, autocommit=False) as writer:
            writer.execute("select analytics.write_audit('a write in flight', null, '{}')")
            output = deployed.deploy()
            writer.commit()
        assert "trigger audit_log_append_only is still disabled" in output
        assert [row[0] for row in deployed.rows(DISABLED_TRIGGERS)] == ["audit_log_append_only"]
        output = deployed.deploy()
    except BaseException:
        enable_every_trigger(deployed)
        raise
    assert "step audit_log runs again" in output
    assert "still disabled" not in output
    assert deployed.rows(DISABLED_TRIGGERS) == []


def test_a_forced_deploy_keeps_every_event_and_alert_rule(deployed):
    events = deployed.value("select count(*) from analytics.user_activity")
    with deployed.connect() as conn:
        conn.execute("insert into analytics.alert_rules (name, metric_type, condition, threshold_value) "
                     "values ('kept', 'total_runs', 'greater_than', 1)")
    deployed.deploy(force=True)
    assert deployed.value("select count(*) from analytics.user_activity") == events > 0
    assert deployed.value("select count(*) from analytics.alert_rules where name = 'kept'") == 1
    deployed.build()


def test_the_deploy_gives_the_build_role_temp_or_stops_naming_the_grant(make_database):
    """A refresh of the materialized-view tables computes into a temporary table. In a database
    whose PUBLIC lost TEMP: where postgres does not own the database (it may still create
    schemas there) the deploy stops, naming the grant, and changes nothing; where it owns it, as
    on Supabase, the deploy grants TEMP and a run refreshes the table."""
    project_db = make_database(seed=34)
    name = project_db.target.dbname
    has_temp = "select has_database_privilege('analytics_builder', current_database(), 'temporary')"
    with project_db.connect_as("supabase_admin") as conn:
        conn.execute(f"alter database {name} owner to supabase_admin")
        conn.execute(f"grant create on database {name} to postgres")
        conn.execute(f"revoke temporary on database {name} from public")
        conn.execute("update analytics_internal.deploy_steps set checksum = 'older' where step = 'grants'")
    assert project_db.value(has_temp) is False
    with pytest.raises(dbt.DbtFailed) as failure:
        project_db.deploy()
    assert ("role analytics_builder may not create temporary tables in database " + name) in str(failure.value)
    assert f"grant temporary on database {name} to analytics_builder" in str(failure.value)
    assert project_db.value("select checksum from analytics_internal.deploy_steps where step = 'grants'") == "older"

    with project_db.connect_as("supabase_admin") as conn:
        conn.execute(f"alter database {name} owner to postgres")
    project_db.deploy()
    assert project_db.value(has_temp) is True
    project_db.dbt("run", "--select", "+mv_active_users")
    assert project_db.value("select count(*) from analytics.mv_active_users") > 0


def test_one_model_parse_and_docs_work_after_a_deploy(deployed):
    deployed.dbt("run", "--select", "daily_metrics")
    deployed.dbt("parse")
    deployed.dbt("docs", "generate")


def test_a_build_before_the_deploy_stops_with_the_command_that_fixes_it(make_database):
    project_db = make_database(seed=32)
    with project_db.connect() as conn:
        conn.execute("drop table analytics_internal.deploy_steps")
    with pytest.raises(dbt.DbtFailed) as failure:
        project_db.build()
    assert "is not deployed in database" in str(failure.value)
    assert "run `agent-analytics deploy`" in str(failure.value)
    assert project_db.value("select to_regclass('analytics.daily_metrics')") is None


def test_a_build_after_an_older_deploy_stops_and_builds_nothing(deployed):
    with deployed.connect() as conn:
        conn.execute("update analytics_internal.deploy_steps set checksum = 'older' where step = '(fingerprint)'")
    try:
        assert_the_build_stops_before_it_reads(deployed, "is not this version's", "run `agent-analytics deploy`")
    finally:
        deployed.deploy()


def test_a_build_that_row_level_security_would_blind_stops_before_it_reads(deployed):
    """A view of the app owned by a role that RLS binds shows no rows: the build refuses to take
    in an empty app (its watermarks would move past data it never saw)."""
    with deployed.connect_as("supabase_admin") as conn:
        conn.execute("alter view analytics_app.agent_runs owner to authenticated")
    try:
        assert_the_build_stops_before_it_reads(
            deployed, "row-level security hides rows of public.agent_runs", "run `agent-analytics deploy --force`")
    finally:
        deployed.deploy()
    assert deployed.value("select pg_get_userbyid(relowner) from pg_class "
                          "where oid = 'analytics_app.agent_runs'::regclass") == "postgres"


def test_a_build_that_cannot_read_every_event_stops_before_it_reads(deployed):
    """user_activity has RLS for members; the build role reads it whole through a policy of its own."""
    with deployed.connect() as conn:
        conn.execute("drop policy build_role_reads_all on analytics.user_activity")
    try:
        assert_the_build_stops_before_it_reads(
            deployed, "row-level security hides rows of analytics.user_activity", "run `agent-analytics deploy --force`")
    finally:
        deployed.deploy(force=True)
    deployed.build()


def test_postgres_cannot_grant_usage_on_auth_and_nothing_needs_it(deployed):
    """Supabase's postgres holds USAGE on auth without grant option; the build role has none."""
    with deployed.connect() as conn:
        conn.execute("grant usage on schema auth to analytics_builder")  # only a warning on Supabase
        assert not conn.execute("select has_schema_privilege('analytics_builder', 'auth', 'usage')").fetchone()[0]
        assert not conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]


def test_the_migration_file_is_the_deploy_for_supabase_db_push(make_database, tmp_path):
    """The Supabase CLI applies migrations with psql as postgres: the file deploys a database that
    had none, and a build follows."""
    project_db = make_database(seed=33)
    # its own target path: the project's target/ is the main job's, whose semantic manifest the
    # CI's semantic-layer check reads while this runs in another job
    path = bootstrap.write_migration(project_db.target, tmp_path / "supabase" / "migrations",
                                     dbt_args=("--target-path", str(tmp_path / "migration-target")))
    assert path.name.endswith("_analytics.sql") and path.parent.name == "migrations"
    fresh = project_db.target.with_database(project_db.target.dbname + "_copy")
    with project_db.connect_as("supabase_admin") as conn:
        conn.execute(f"create database {fresh.dbname} template {project_db.target.dbname} owner postgres")
    try:
        with db.connect(fresh) as conn:
            conn.execute("drop schema analytics, analytics_internal, analytics_app cascade")
            conn.execute("drop owned by analytics_builder")
        env = {**fresh.env(), "PATH": "/usr/bin:/bin"}
        subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-1", "-f", str(path)], env=env, check=True,
                       capture_output=True, text=True)
        with db.connect(fresh) as conn:
            tables = conn.execute("select count(*) from pg_tables where schemaname = 'analytics'").fetchone()[0]
            owner = conn.execute("select pg_get_userbyid(relowner) from pg_class "
                                 "where oid = 'analytics.user_activity'::regclass").fetchone()[0]
        assert tables >= 4 and owner == "postgres"
        dbt.run_dbt(["build", "--target-path", str(tmp_path / "target")], fresh, capture=True)
    finally:
        with db.connect(project_db.server.admin) as conn:
            conn.execute(f"drop database if exists {fresh.dbname} with (force)")


def test_the_build_role_cannot_write_the_app_or_the_tables_the_app_writes(deployed):
    for statement in ("insert into analytics.user_activity (user_id, event_type) "
                      "select id, 'login' from public.users limit 1",
                      "delete from analytics.alert_rules",
                      "alter table analytics.user_activity add column x int",
                      "update analytics_app.users set email = email"):
        with deployed.connect() as conn, conn.transaction(force_rollback=True):
            conn.execute("set local role analytics_builder")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
