"""The project's in-database jobs as pg_cron jobs (docs/pg_cron.md): installed, listed and
removed, idempotently.

pg_cron runs a job as the role that scheduled it: it logs in as that role. So the jobs belong
to the deploy's owner (on Supabase, postgres), which owns the functions they call;
service_role may call them too, but cannot log in. The jobs themselves (commands, default
schedules) are defined in the dbt project (macros/deploy/pg_cron_jobs.sql), beside what the
build runs: the partition job runs the very statement every build starts with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum

import psycopg

from agent_analytics import db, dbt
from agent_analytics.errors import AgentAnalyticsError

# Every job of ours is named with it, so that list and remove touch no one else's.
PREFIX = "agent-analytics-"

ENABLE = ("enable pg_cron: Dashboard → Database → Extensions → pg_cron, or `create extension pg_cron` "
          "as a superuser (self-hosted: with pg_cron in shared_preload_libraries)")


class PgCronError(AgentAnalyticsError):
    """The jobs cannot be installed, listed or removed here; the message says what to do."""


class PgCronMissing(PgCronError):
    """The database has no pg_cron extension."""


class WrongDatabase(PgCronError):
    """pg_cron's scheduler serves another database (cron.database_name)."""


class NoCronAccess(PgCronError):
    """The connecting role may not use schema cron."""


class NotDeployed(PgCronError):
    """A function a job calls is missing: the analytics schema is not deployed here."""


class CannotRunJobs(PgCronError):
    """The connecting role could not run the jobs it would schedule."""


class InvalidJobSchedule(PgCronError):
    """A schedule that pg_cron refuses, or one given for a job that does not exist."""


@dataclass(frozen=True)
class JobDefinition:
    """One of the project's jobs as the dbt project defines it."""

    key: str
    schedule: str
    command: str
    function: str  # what the command calls, as regprocedure text (checked before scheduling)
    description: str
    # pg_cron 1.5 and later run a job every few seconds ("30 seconds"); 1.4 every minute at most
    seconds_schedule: str | None = None

    @property
    def name(self) -> str:
        return PREFIX + self.key


@dataclass(frozen=True)
class LastRun:
    """A job's latest row in cron.job_run_details."""

    status: str  # starting, running, sending, connecting, succeeded or failed
    start_time: datetime | None
    end_time: datetime | None
    return_message: str | None


@dataclass(frozen=True)
class Job:
    """A row of cron.job whose name has our prefix."""

    jobid: int
    name: str
    schedule: str
    command: str
    database: str
    username: str
    active: bool
    last_run: LastRun | None


class Change(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REMOVED = "removed"  # a job of ours that this version no longer defines


@dataclass(frozen=True)
class Installed:
    job: Job
    change: Change


@dataclass(frozen=True)
class InstallResult:
    username: str  # the role pg_cron runs the jobs as
    database: str
    jobs: tuple[Installed, ...]
    notes: tuple[str, ...]  # what the install saw and left alone: paused jobs, other roles' copies


# The first pg_cron version whose schedules may be "[1-59] seconds".
SECONDS_FROM = (1, 5)


@dataclass(frozen=True)
class CronSetup:
    """Where the connection is, as pg_cron sees it."""

    database: str
    username: str
    version: str  # pg_cron's extversion, e.g. "1.4" (Debian 12's) or "1.6"

    @property
    def takes_seconds(self) -> bool:
        return version_numbers(self.version) >= SECONDS_FROM


def version_numbers(version: str) -> tuple[int, ...]:
    """An extension version's leading numbers: "1.6.4" -> (1, 6, 4); "1.4-2" -> (1, 4)."""
    found = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in found.group().split(".")) if found else ()


def job_definitions(target: db.Connection, schedules: Mapping[str, str] | None = None,
                    dbt_args: Sequence[str] = (), setup: CronSetup | None = None) -> tuple[JobDefinition, ...]:
    """The jobs as the dbt project renders them for `target` (macro print_pg_cron_jobs), with
    `schedules` (job key: cron schedule) instead of their defaults. For the pg_cron of `setup`:
    a job's seconds_schedule as its default where that pg_cron takes one."""
    result = dbt.run_dbt(["--quiet", "run-operation", "print_pg_cron_jobs", "--target", "owner", *dbt_args],
                         target, capture=True)
    printed = [line for line in result.stdout.splitlines() if line.startswith("[")]
    if not printed:
        raise dbt.DbtFailed(f"`dbt run-operation print_pg_cron_jobs` printed no jobs:\n{result.stdout}{result.stderr}")
    definitions = tuple(JobDefinition(**job) for job in json.loads(printed[-1]))
    if setup is not None:
        definitions = for_pg_cron(definitions, setup)
    return with_schedules(definitions, schedules or {})


def for_pg_cron(definitions: Sequence[JobDefinition], setup: CronSetup) -> tuple[JobDefinition, ...]:
    """The jobs' default schedules for the pg_cron of `setup`: a job's seconds_schedule where
    that pg_cron takes one."""
    if not setup.takes_seconds:
        return tuple(definitions)
    return tuple(replace(definition, schedule=definition.seconds_schedule or definition.schedule)
                 for definition in definitions)


def with_schedules(definitions: Sequence[JobDefinition], schedules: Mapping[str, str]) -> tuple[JobDefinition, ...]:
    keys = [definition.key for definition in definitions]
    unknown = sorted(set(schedules) - set(keys))
    if unknown:
        raise InvalidJobSchedule(f"no job is called {', '.join(unknown)}: the jobs are {', '.join(keys)}")
    return tuple(replace(definition, schedule=schedules.get(definition.key, definition.schedule))
                 for definition in definitions)


def check_pg_cron(conn: psycopg.Connection) -> CronSetup:
    """That pg_cron serves this database and the connecting role may use it."""
    here, username, cron_database, version, usable = conn.execute("""
        select
            current_database(),
            current_user,
            (select setting from pg_catalog.pg_settings where name = 'cron.database_name'),
            (select extversion from pg_catalog.pg_extension where extname = 'pg_cron'),
            case when to_regnamespace('cron') is not null then has_schema_privilege('cron', 'usage') else false end
    """).fetchone()
    # pg_cron 1.4 makes its extension only in cron.database_name, and its scheduler reads the jobs
    # of that database alone (a job elsewhere needs cron.schedule_in_database, a superuser's).
    # The setting is readable with pg_read_all_settings, which Supabase's postgres has.
    if cron_database is not None and cron_database != here:
        raise WrongDatabase(
            f"pg_cron runs the jobs of database {cron_database!r} only (cron.database_name), and this is "
            f"{here!r}: deploy and install in {cron_database!r} (PGDATABASE={cron_database}), or, self-hosted, "
            f"set cron.database_name = '{here}', restart PostgreSQL and create the extension here"
        )
    if version is None:
        raise PgCronMissing(f"pg_cron is not enabled in database {here!r}: {ENABLE}; "
                            "then run `agent-analytics cron install`")
    if not usable:
        raise NoCronAccess(
            f"{username} may not use schema cron: as a superuser, `grant usage on schema cron to {username}` "
            "(Supabase grants it to postgres when pg_cron is enabled)"
        )
    return CronSetup(here, username, version)


def list_jobs(conn: psycopg.Connection) -> list[Job]:
    """Our jobs, of every role this one may see (Supabase's postgres sees all: BYPASSRLS)."""
    check_pg_cron(conn)
    return _jobs(conn)


def install(conn: psycopg.Connection, definitions: Sequence[JobDefinition]) -> InstallResult:
    """Schedule each job as the connecting role, in one transaction: a job already there with the
    same schedule and command is left as it is; one that differs is updated in place (same
    jobid, pg_cron's cron.schedule of the same name); a job of ours that is no longer defined is
    removed."""
    with conn.transaction():
        setup = check_pg_cron(conn)
        _check_functions(conn, definitions, setup)
        mine = {job.name: job for job in _jobs(conn) if job.username == setup.username}
        changes: dict[str, Change] = {}
        for definition in definitions:
            existing = mine.pop(definition.name, None)
            if existing and (existing.schedule, existing.command) == (definition.schedule, definition.command):
                changes[definition.name] = Change.UNCHANGED
                continue
            _schedule(conn, definition)
            changes[definition.name] = Change.UPDATED if existing else Change.CREATED
        for stale in mine.values():
            conn.execute("select cron.unschedule(%s::bigint)", (stale.jobid,))
        jobs = _jobs(conn)
    current = {job.name: job for job in jobs if job.username == setup.username}
    installed = [Installed(current[name], change) for name, change in changes.items()]
    installed += [Installed(job, Change.REMOVED) for job in mine.values()]
    return InstallResult(setup.username, setup.database, tuple(installed), tuple(_notes(jobs, definitions, setup)))


def remove(conn: psycopg.Connection) -> tuple[Job, ...]:
    """Unschedule the connecting role's jobs of ours; no other job, and no other role's."""
    with conn.transaction():
        setup = check_pg_cron(conn)
        mine = tuple(job for job in _jobs(conn) if job.username == setup.username)
        for job in mine:
            conn.execute("select cron.unschedule(%s::bigint)", (job.jobid,))
    return mine


def as_json(jobs: Sequence[Job]) -> str:
    def plain(value: object) -> object:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"{type(value).__name__} is not JSON")

    return json.dumps([asdict(job) for job in jobs], default=plain, indent=2)


JOBS = """
select
    j.jobid, j.jobname, j.schedule, j.command, j.database, j.username, j.active,
    r.status, r.start_time, r.end_time, r.return_message
from cron.job as j
left join lateral (
    select d.status, d.start_time, d.end_time, d.return_message
    from cron.job_run_details as d
    where d.jobid = j.jobid
    order by d.runid desc
    limit 1
) as r on true
where starts_with(j.jobname, %s)
order by j.jobname, j.username
"""


def _jobs(conn: psycopg.Connection) -> list[Job]:
    jobs = []
    for jobid, name, schedule, command, database, username, active, status, started, ended, message in \
            conn.execute(JOBS, (PREFIX,)).fetchall():
        last_run = None if status is None else LastRun(status, started, ended, message)
        jobs.append(Job(jobid, name, schedule, command, database, username, active, last_run))
    return jobs


def _check_functions(conn: psycopg.Connection, definitions: Sequence[JobDefinition], setup: CronSetup) -> None:
    # in this order: looking a function up in a schema one may not use is an error, not a NULL
    rows = conn.execute("""
        select
            f.name,
            case
                when to_regnamespace(f.schema) is null then 'missing'
                when not has_schema_privilege(f.schema, 'usage') then 'refused'
                when to_regprocedure(f.name) is null then 'missing'
                when not has_function_privilege(to_regprocedure(f.name), 'execute') then 'refused'
                else 'ok'
            end
        from (select name, split_part(name, '.', 1) as schema from unnest(%s::text []) as name) as f
    """, ([definition.function for definition in definitions],)).fetchall()
    missing = [name for name, state in rows if state == "missing"]
    if missing:
        raise NotDeployed(f"the analytics schema is not deployed in database {setup.database!r} "
                          f"({', '.join(missing)} missing): run `agent-analytics deploy` first")
    refused = [name for name, state in rows if state == "refused"]
    if refused:
        raise CannotRunJobs(
            f"pg_cron runs a job as the role that schedules it, and {setup.username} may not execute "
            f"{', '.join(refused)}: run `agent-analytics cron install` as the deploy's owner (on Supabase: postgres)"
        )


def _schedule(conn: psycopg.Connection, definition: JobDefinition) -> None:
    try:
        conn.execute("select cron.schedule(%s, %s, %s)", (definition.name, definition.schedule, definition.command))
    except psycopg.errors.InvalidParameterValue as error:
        raise InvalidJobSchedule(
            f"pg_cron refuses the schedule {definition.schedule!r} of {definition.name} "
            f"({error.diag.message_primary}): give five cron fields, in UTC, such as '*/15 * * * *'"
        ) from error


def _notes(jobs: Sequence[Job], definitions: Sequence[JobDefinition], setup: CronSetup) -> list[str]:
    names = {definition.name for definition in definitions}
    notes = []
    for job in jobs:
        if job.username == setup.username and not job.active:
            notes.append(f"{job.name} is paused (cron.job.active is false), and stays so: "
                         f"`select cron.alter_job({job.jobid}, active := true)` resumes it")
        elif job.username != setup.username and job.name in names:
            notes.append(f"{job.name} is also scheduled as {job.username} (job {job.jobid}), and runs as well: "
                         f"remove it as {job.username} (`agent-analytics cron remove`)")
    return notes
