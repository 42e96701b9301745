"""The in-database jobs as pg_cron jobs (agent-analytics cron install | list | remove), on a
cluster of their own that loads pg_cron, in a database built like a Supabase project's (the demo
app, deployed and built as postgres, who is no superuser), where pg_cron is enabled the way
Supabase enables it: the extension made by supabase_admin, then the grants of Supabase's event
trigger. pg_cron runs each job by logging in as its role, as on Supabase.

The jobs expected are those of docs/pg_cron.md's table, so that the page cannot drift from
what is installed.

Skipped where the chosen PostgreSQL has no pg_cron library, except where
AGENT_ANALYTICS_REQUIRE_PG_CRON=1 (CI's PostgreSQL 15 suite, which installs postgresql-15-cron).
The error without pg_cron is tested on the session's cluster, which never loads it."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from agent_analytics import bootstrap, cli, cluster, db, generate, pg_cron
from conftest import PROJECT, ProjectDatabase, binaries_with_library, wait_until

# Not `postgres`, pg_cron's default: the setting, not the default, must be what counts.
CRON_DATABASE = "aa_cron"


def documented_jobs() -> dict[str, tuple[str, str]]:
    """The table after <!-- pg-cron-jobs --> in docs/pg_cron.md: each job's name, schedule and
    command (written on one line there)."""
    text = (PROJECT / "docs" / "pg_cron.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- pg-cron-jobs -->\n(.*?)\n\n", text, flags=re.S)
    assert found, "docs/pg_cron.md has no table after <!-- pg-cron-jobs -->"
    jobs = {}
    for row in found.group(1).splitlines()[2:]:
        name, schedule, command = (re.match(r"`([^`]+)`", cell.strip()).group(1)
                                   for cell in row.strip("|").split(" | ")[:3])
        jobs[name] = (schedule, command)
    return jobs


def one_line(command: str) -> str:
    """A command as the docs write it: the partition job's spans four lines in cron.job."""
    return re.sub(r"\s+", " ", command).replace("( ", "(").replace(" )", ")").strip()


EXPECTED_JOBS = documented_jobs()
# The live job's schedule on pg_cron 1.5 and later, as the table's schedule cell says after the minute.
LIVE_JOB, LIVE_SECONDS_SCHEDULE = "agent-analytics-live", "30 seconds"


def expected_jobs(cron: CronProject) -> dict[str, tuple[str, str]]:
    """The documented jobs as `cron install` schedules them on this cluster's pg_cron."""
    with cron.project_db.connect() as conn:
        if not pg_cron.check_pg_cron(conn).takes_seconds:
            return EXPECTED_JOBS
    return {**EXPECTED_JOBS, LIVE_JOB: (LIVE_SECONDS_SCHEDULE, EXPECTED_JOBS[LIVE_JOB][1])}

# What the dashboard's "enable pg_cron" runs as supabase_admin: the extension, then what Supabase's
# event trigger extensions.grant_pg_cron_access() grants (supabase/postgres,
# migrations/db/migrations/20231020085357_revoke_writes_on_cron_job_from_postgres.sql).
ENABLE_PG_CRON_AS_SUPABASE = (
    "create extension pg_cron with schema pg_catalog",
    "grant usage on schema cron to postgres with grant option",
    "alter default privileges in schema cron grant all on tables to postgres with grant option",
    "alter default privileges in schema cron grant all on functions to postgres with grant option",
    "alter default privileges in schema cron grant all on sequences to postgres with grant option",
    "alter default privileges for user supabase_admin in schema cron grant all on sequences to postgres "
    "with grant option",
    "alter default privileges for user supabase_admin in schema cron grant all on tables to postgres "
    "with grant option",
    "alter default privileges for user supabase_admin in schema cron grant all on functions to postgres "
    "with grant option",
    "grant all privileges on all tables in schema cron to postgres with grant option",
    "revoke all on table cron.job from postgres",
    "grant select on table cron.job to postgres with grant option",
)

# A run that has ended, in cron.job_run_details.
ENDED = ("succeeded", "failed")


def pg_cron_binaries() -> cluster.Binaries:
    return binaries_with_library("pg_cron.so", "postgresql-15-cron", "AGENT_ANALYTICS_REQUIRE_PG_CRON")


@dataclass
class CronProject:
    """The cluster that loads pg_cron, and its database pg_cron serves."""

    server: cluster.Cluster
    project_db: ProjectDatabase

    def admin(self) -> psycopg.Connection:
        return self.project_db.connect_as("supabase_admin")

    def jobs(self) -> list[tuple]:
        """Every row of cron.job, whoever scheduled it (read as the superuser)."""
        with self.admin() as conn:
            return conn.execute(
                "select jobid, jobname, schedule, command, nodename, nodeport, database, username, active "
                "from cron.job order by jobid").fetchall()

    def restart(self) -> None:
        self.server.stop()
        self.server.start()


@pytest.fixture(scope="module")
def cron_project(data_end, tmp_path_factory) -> Iterator[CronProject]:
    binaries = pg_cron_binaries()  # skips (or fails) before anything is made
    folder = Path(tempfile.mkdtemp(prefix="aa-test-pg-cron-"))
    run = folder / "run"
    # pg_cron logs in as each job's role through the cluster's socket (the cluster listens on no
    # TCP port), as it does on Supabase over localhost.
    settings = {"shared_preload_libraries": "pg_cron", "cron.database_name": CRON_DATABASE, "cron.host": str(run)}
    server = cluster.Cluster(binaries, folder / "data", run, throwaway=True, settings=settings)
    try:
        server.create()
        made = cluster.create_supabase_database(server.server(), CRON_DATABASE)
        project_db = ProjectDatabase(made, tmp_path_factory.mktemp("dbt-target-pg-cron"), data_end)
        bootstrap.prepare_demo_database(made, ("--target-path", str(project_db.target_path)))
        with db.connect(made.admin) as conn:
            generate.generate(conn, generate.GenerateOptions(scale=generate.SCALES["tiny"], seed=3, end=data_end))
        # the refresh and the alert evaluation read the models (their data tests are other tests' subject)
        project_db.build(data_tests=False)
        with db.connect(made.admin) as conn:
            for statement in ENABLE_PG_CRON_AS_SUPABASE:
                conn.execute(statement)
        yield CronProject(server, project_db)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def definitions(cron_project: CronProject) -> tuple[pg_cron.JobDefinition, ...]:
    """The jobs as `cron install` renders them (in the same dbt target folder, so that dbt parses
    the project once for both: another login, or another folder, would make it parse again)."""
    return pg_cron.job_definitions(cron_project.project_db.target)


@pytest.fixture
def cron(cron_project: CronProject) -> CronProject:
    """The cron database without any job or run, whatever an earlier test scheduled."""
    with cron_project.admin() as conn:
        conn.execute("delete from cron.job")
        conn.execute("delete from cron.job_run_details")
    return cron_project


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def agent_analytics(monkeypatch, capsys):
    """`agent-analytics <args>` in this process, with the PG* variables of `target` only."""

    def run(target: db.Connection, *args: str) -> Ran:
        for name in db.LIBPQ_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in target.env().items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def test_install_schedules_each_job_as_postgres_with_its_schedule_and_command(cron, agent_analytics):
    target = cron.project_db.target
    with cron.project_db.connect() as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (False,)

    ran = agent_analytics(target, "cron", "install")

    assert ran.code == 0, ran.err
    jobs = cron.jobs()
    assert {name: (schedule, one_line(command)) for _, name, schedule, command, *_ in jobs} == expected_jobs(cron)
    assert {(database, username, active) for *_, database, username, active in jobs} == {
        (CRON_DATABASE, "postgres", True)}
    for name in EXPECTED_JOBS:
        assert f"created   {name}" in ran.out
    assert "pg_cron runs them as postgres in database 'aa_cron'" in ran.out


def test_install_twice_gives_the_same_jobs(cron, agent_analytics):
    target = cron.project_db.target
    assert agent_analytics(target, "cron", "install").code == 0
    first = cron.jobs()

    again = agent_analytics(target, "cron", "install")

    assert again.code == 0, again.err
    assert cron.jobs() == first
    assert again.out.count("unchanged ") == len(EXPECTED_JOBS)


def test_install_updates_a_changed_job_in_place_and_removes_one_no_longer_defined(cron, agent_analytics):
    target = cron.project_db.target
    assert agent_analytics(target, "cron", "install").code == 0
    jobid = {name: jobid for jobid, name, *_ in cron.jobs()}
    with cron.project_db.connect() as conn:
        # as an older version would have left them
        conn.execute("select cron.schedule('agent-analytics-retention', '0 0 * * *', 'select 1')")
        conn.execute("select cron.schedule('agent-analytics-alerts', '* * * * *', "
                     "'select analytics.evaluate_alerts(now())')")
        conn.execute("select cron.schedule('agent-analytics-retired', '0 1 * * *', 'select 1')")
        conn.execute("select cron.schedule('nightly-vacuum', '0 4 * * *', 'vacuum analytics.alert_rules')")

    ran = agent_analytics(target, "cron", "install")

    assert ran.code == 0, ran.err
    rows = {name: (jobid, schedule, one_line(command)) for jobid, name, schedule, command, *_ in cron.jobs()}
    assert rows == {
        **{name: (jobid[name], *expected) for name, expected in expected_jobs(cron).items()},
        "nightly-vacuum": (rows["nightly-vacuum"][0], "0 4 * * *", "vacuum analytics.alert_rules"),
    }
    assert "updated   agent-analytics-retention" in ran.out
    assert "updated   agent-analytics-alerts" in ran.out
    assert "removed   agent-analytics-retired" in ran.out
    assert "unchanged agent-analytics-refresh" in ran.out


def test_pg_cron_runs_every_job_as_postgres_and_each_succeeds(cron, agent_analytics, monkeypatch):
    """Each job rescheduled to @reboot, which pg_cron runs when its scheduler starts: a restart
    of a second instead of a wait for the next minute (pg_cron 1.4 has no seconds)."""
    target = cron.project_db.target
    at_reboot = [f"{name.removeprefix(pg_cron.PREFIX)}=@reboot" for name in EXPECTED_JOBS]
    ran = agent_analytics(target, "cron", "install", *[arg for job in at_reboot for arg in ("--schedule", job)])
    assert ran.code == 0, ran.err
    with cron.project_db.connect() as conn:
        # the control: a failing command is seen as failed, so that "succeeded" below means something
        conn.execute("select cron.schedule('control-fails', '@reboot', 'select analytics.no_such_function()')")
    ours = {jobid: name for jobid, name, *_ in cron.jobs() if name.startswith(pg_cron.PREFIX)}
    audited_before = cron.project_db.value("select coalesce(max(id), 0) from analytics.audit_log")

    cron.restart()
    runs = wait_for_runs(cron, len(ours) + 1)

    by_job = {ours.get(jobid, "control"): (status, username, database, message)
              for jobid, status, username, database, message in runs}
    assert by_job == {
        **{name: ("succeeded", "postgres", CRON_DATABASE, "1 row") for name in EXPECTED_JOBS},
        "control": by_job["control"],
    }
    assert by_job["control"][0] == "failed" and "no_such_function" in by_job["control"][3]
    # the functions that audit themselves name the login pg_cron ran them as
    assert sorted(cron.project_db.rows(
        "select action, actor_role from analytics.audit_log where id > %s", (audited_before,))) == [
        ("cleanup_old_data", "postgres"), ("evaluate_alerts", "postgres"),
        ("refresh_all_materialized_views", "postgres"),
    ]

    listed = agent_analytics(target, "cron", "list", "--json")
    assert listed.code == 0, listed.err
    assert {job["name"]: job["last_run"]["status"] for job in json.loads(listed.out)} == {
        name: "succeeded" for name in EXPECTED_JOBS}
    monkeypatch.setenv("COLUMNS", "250")
    table = agent_analytics(target, "cron", "list")
    assert table.code == 0, table.err
    assert table.out.count(" succeeded ") == len(EXPECTED_JOBS) and "agent-analytics-partitions" in table.out


def wait_for_runs(cron: CronProject, count: int, seconds: float = 30) -> list[tuple]:
    """The first `count` runs once each has ended (pg_cron starts @reboot jobs within a second)."""
    runs: list[tuple] = []

    def ended_runs() -> list[tuple]:
        with cron.admin() as conn:
            runs[:] = conn.execute(
                "select jobid, status, username, database, return_message from cron.job_run_details order by runid"
            ).fetchall()
        return runs if len(runs) >= count and all(run[1] in ENDED for run in runs) else []

    return wait_until(ended_runs, lambda: f"pg_cron ran {runs} within {seconds} s, not {count} jobs", seconds,
                      every=0.2)


def test_remove_unschedules_only_our_jobs_of_the_connecting_role(cron, agent_analytics):
    target = cron.project_db.target
    with cron.admin() as conn:
        # a copy of ours that another role scheduled: postgres cannot remove it, and install says so
        conn.execute("select cron.schedule('agent-analytics-alerts', '* * * * *', "
                     "'select analytics.evaluate_alerts()')")
    with cron.project_db.connect() as conn:
        conn.execute("select cron.schedule('nightly-vacuum', '0 4 * * *', 'vacuum analytics.alert_rules')")
    installed = agent_analytics(target, "cron", "install")
    assert installed.code == 0, installed.err
    assert "agent-analytics-alerts is also scheduled as supabase_admin" in installed.out
    listed = agent_analytics(target, "cron", "list", "--json")
    assert sorted((job["name"], job["username"]) for job in json.loads(listed.out)) == sorted(
        [(name, "postgres") for name in EXPECTED_JOBS] + [("agent-analytics-alerts", "supabase_admin")])

    ran = agent_analytics(target, "cron", "remove")

    assert ran.code == 0, ran.err
    assert sorted((name, username) for _, name, *_, username, _ in cron.jobs()) == [
        ("agent-analytics-alerts", "supabase_admin"), ("nightly-vacuum", "postgres")]
    assert ran.out.count("removed ") == len(EXPECTED_JOBS)
    again = agent_analytics(target, "cron", "remove")
    assert again.code == 0 and "no agent-analytics-* job of postgres to remove" in again.out


def test_a_schedule_pg_cron_refuses_changes_no_job(cron, agent_analytics):
    target = cron.project_db.target
    assert agent_analytics(target, "cron", "install").code == 0
    before = cron.jobs()

    ran = agent_analytics(target, "cron", "install", "--schedule", "retention=0 2 * * *",
                          "--schedule", "alerts=every minute")

    assert ran.code == 1
    assert "pg_cron refuses the schedule 'every minute' of agent-analytics-alerts" in ran.err
    assert "Traceback" not in ran.out + ran.err
    assert cron.jobs() == before  # retention too: one transaction
    unknown = agent_analytics(target, "cron", "install", "--schedule", "backups=0 2 * * *")
    assert unknown.code == 1
    assert "no job is called backups: the jobs are retention, partitions, refresh, live, alerts" in unknown.err


@pytest.mark.parametrize(("version", "takes_seconds"), [
    ("1.4", False), ("1.4-2", False), ("1.5", True), ("1.6.4", True), ("2.0", True), ("", False), ("beta", False)])
def test_pg_cron_takes_seconds_from_1_5(version, takes_seconds):
    assert pg_cron.CronSetup(CRON_DATABASE, "postgres", version).takes_seconds is takes_seconds


def test_the_live_snapshot_is_taken_every_30_seconds_where_pg_cron_can(cron, definitions):
    """On pg_cron 1.5 or later (Supabase's) the live job runs every 30 s, as the worker's step, so
    a snapshot is never over a minute old while the next is written; on 1.4, every minute. A
    schedule the user gives wins either way. (This machine's pg_cron is 1.4: the job itself is
    run by test_pg_cron_runs_every_job_as_postgres_and_each_succeeds.)"""
    with cron.project_db.connect() as conn:
        here = pg_cron.check_pg_cron(conn)
    assert pg_cron.for_pg_cron(definitions, replace(here, version="1.4")) == definitions
    default = {d.key: d.schedule for d in definitions}
    assert default["live"] == "* * * * *"
    newer = pg_cron.for_pg_cron(definitions, replace(here, version="1.6"))
    assert {d.key: d.schedule for d in newer} == {**default, "live": "30 seconds"}
    assert [replace(d, schedule="") for d in newer] == [replace(d, schedule="") for d in definitions]
    chosen = pg_cron.with_schedules(newer, {"live": "*/2 * * * *"})
    assert {d.key: d.schedule for d in chosen}["live"] == "*/2 * * * *"


def test_where_pg_cron_takes_seconds_it_takes_the_live_snapshot_every_30_seconds(cron, agent_analytics):
    """The default install, left to run: on pg_cron 1.5 or later the live job runs every 30 s and
    each run takes the snapshot again. pg_cron 1.4 (Debian 12's, CI's) cannot: skipped there."""
    with cron.project_db.connect() as conn:
        if not pg_cron.check_pg_cron(conn).takes_seconds:
            pytest.skip("this pg_cron runs jobs every minute at most (1.4); 1.5 and later take seconds")
    def latest_snapshot() -> datetime | None:
        return cron.project_db.value(
            "select max(taken_at) from analytics_internal.live_snapshots where kind = 'hourly'")

    target = cron.project_db.target
    earlier = latest_snapshot()  # an earlier test's jobs may have taken one
    assert agent_analytics(target, "cron", "install").code == 0
    live = next(jobid for jobid, name, *_ in cron.jobs() if name == LIVE_JOB)
    stamps: set[datetime] = set()

    def two_snapshots() -> bool:
        stamps.update({latest_snapshot()} - {None, earlier})
        return len(stamps) >= 2

    wait_until(two_snapshots, lambda: f"pg_cron took the snapshot at {sorted(stamps)} in 75 s after the install", 75,
               every=1)
    first, second = sorted(stamps)
    assert 25 <= (second - first).total_seconds() <= 35, (first, second)
    with cron.admin() as conn:
        statuses = {status for (status,) in conn.execute(
            "select status from cron.job_run_details where jobid = %s and status in ('succeeded', 'failed')",
            (live,))}
    assert statuses == {"succeeded"}


def test_a_database_pg_cron_does_not_serve_is_named_with_the_one_it_does(cron, agent_analytics):
    other = f"{CRON_DATABASE}_other"
    made = cluster.create_supabase_database(cron.server.server(), other)
    try:
        for args in (("cron", "install"), ("cron", "list")):
            ran = agent_analytics(made.project, *args)
            assert ran.code == 1
            assert (f"pg_cron runs the jobs of database '{CRON_DATABASE}' only (cron.database_name), and this is "
                    f"'{other}'") in ran.err
            assert f"PGDATABASE={CRON_DATABASE}" in ran.err
    finally:
        db.drop_database(cron.server.admin(), other)


def test_an_undeployed_database_is_refused_before_anything_is_scheduled(cron, definitions):
    with db.connect(cron.project_db.target, autocommit=False) as conn:
        # as if the deploy had never run here (rolled back below)
        conn.execute("alter schema analytics rename to analytics_not_deployed")
        with pytest.raises(pg_cron.NotDeployed, match=r"analytics\.cleanup_old_data\(\)"
                           r".* missing\): run `agent-analytics deploy` first"):
            pg_cron.install(conn, definitions)
        conn.rollback()
    assert cron.jobs() == []


def test_a_role_that_cannot_run_the_jobs_is_sent_to_the_deploys_owner(cron, definitions, agent_analytics):
    with cron.admin() as conn:
        conn.execute("create role aa_cron_outsider login")
        conn.execute("create role aa_cron_scheduler login")
        conn.execute("grant usage on schema cron to aa_cron_scheduler")
        conn.execute("grant usage on schema analytics to aa_cron_scheduler")
    try:
        outsider = agent_analytics(replace(cron.project_db.target, user="aa_cron_outsider"), "cron", "install")
        assert outsider.code == 1
        assert "aa_cron_outsider may not use schema cron: as a superuser, `grant usage on schema cron to " \
               "aa_cron_outsider`" in outsider.err
        with db.connect(replace(cron.project_db.target, user="aa_cron_scheduler")) as conn, pytest.raises(
                pg_cron.CannotRunJobs, match=r"pg_cron runs a job as the role that schedules it, and aa_cron_scheduler "
                r"may not execute analytics\.cleanup_old_data\(\), .*: run `agent-analytics cron install` as the "
                r"deploy's owner \(on Supabase: postgres\)"):
            pg_cron.install(conn, definitions)
        assert cron.jobs() == []
    finally:
        with cron.admin() as conn:
            for role in ("aa_cron_outsider", "aa_cron_scheduler"):
                conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_without_pg_cron_the_error_says_how_to_enable_it(make_database, agent_analytics):
    """The session's cluster never loads pg_cron, as a Supabase project before it is enabled."""
    project_db = make_database()
    for args in (("cron", "install"), ("cron", "list"), ("cron", "remove")):
        ran = agent_analytics(project_db.target, *args)
        assert ran.code == 1
        assert "pg_cron is not enabled in database" in ran.err
        assert "enable pg_cron: Dashboard → Database → Extensions → pg_cron, or `create extension pg_cron`" in ran.err
        assert "Traceback" not in ran.out + ran.err
