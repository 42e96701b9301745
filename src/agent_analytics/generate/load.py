"""The simulated world into a database: the stand-in app's tables and analytics.user_activity
by COPY, partitions first and, for a big load, the indexes after; appends continue from the
end kept in a note on the runs table."""

from __future__ import annotations

import heapq
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from agent_analytics import bootstrap, bulk, cluster, db
from agent_analytics.errors import AgentAnalyticsError
from agent_analytics.generate import simulate
from agent_analytics.generate.simulate import MAX_LATENESS, AgentRun, App, Event, Scale, Stretch, World
from agent_analytics.progress import Progress, quiet

# Below this many expected events, keep the indexes during COPY; above, rebuild them after.
BULK_LOAD_THRESHOLD = 500_000
SETTINGS_PREFIX = "agent-analytics generator settings: "
# People per worker task: small enough to spread a day over every core.
SLICE_SIZE = 250


class GeneratorError(AgentAnalyticsError):
    """The generator cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class GenerateOptions:
    scale: Scale
    seed: int = 42
    end: datetime = field(default_factory=lambda: datetime.now(UTC))
    days: int | None = None
    allow_real_app: bool = False

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days or self.scale.days)


@dataclass
class Counts:
    workspaces: int = 0
    users: int = 0
    memberships: int = 0
    agents: int = 0
    runs: int = 0
    events: int = 0
    late_events: int = 0
    runs_updated: int = 0
    seconds: float = 0.0  # to write it all, analyze included


def generate(conn: psycopg.Connection, options: GenerateOptions, progress: Progress = quiet) -> Counts:
    """Fill an empty stand-in app and analytics.user_activity; returns what was written."""
    started = time.monotonic()
    _check_target(conn, options.allow_real_app)
    if bootstrap.app_row_count(conn):
        raise GeneratorError(
            "the stand-in app already has users: use --append to add time, or a fresh database"
        )
    counts = Counts()
    expected_events = options.scale.users * (options.days or options.scale.days) * 2 * options.scale.activity
    with conn.transaction():
        app = simulate.app(options.scale, options.seed, options.start, options.end)
        _write_app(conn, app, counts, progress)
        _ensure_partitions(conn, options.start - MAX_LATENESS, options.end)
        with _indexes_rebuilt_after(conn, expected_events >= BULK_LOAD_THRESHOLD, progress):
            _write_activity(conn, app.world, options.seed, options.start, options.end, counts, progress)
        _remember_settings(conn, options.seed, options.scale.activity, options.end)
    conn.execute("analyze public.agent_runs")
    conn.execute("analyze analytics.user_activity")
    counts.seconds = time.monotonic() - started
    return counts


def append(
    conn: psycopg.Connection, duration: timedelta, seed: int | None = None, allow_real_app: bool = False,
    progress: Progress = quiet, *, now: datetime | None = None,
) -> Counts:
    """The next stretch of time after the last data: new events and runs, events that arrive
    late for the past 70 hours, runs that finish, and ratings of earlier runs. The stretch
    ends at `now` (default: the current time) at the latest: what a scheduled build sees has
    happened, and data that ends now (generate's default) gets only the time since."""
    started = time.monotonic()
    _check_target(conn, allow_real_app)
    if duration <= timedelta(0):
        raise GeneratorError("--append needs a positive duration such as 1h or 1d")
    settings = remembered_settings(conn)
    seed = int(settings.get("seed", 42)) if seed is None else seed
    start = datetime.fromisoformat(settings["end"]) if "end" in settings else _data_end(conn)
    end = min(start + duration, datetime.now(UTC) if now is None else now)
    if end <= start:
        raise GeneratorError(
            f"the data already reaches {start:%Y-%m-%d %H:%M:%S} UTC, which is not in the past: nothing to append yet"
        )
    world = _read_world(conn, seed, float(settings.get("activity", 1.0)))
    counts = Counts()
    with conn.transaction():
        _ensure_partitions(conn, start - MAX_LATENESS, end)
        _write_activity(conn, world, seed, start, end, counts, progress, late_from=start - MAX_LATENESS)
        counts.runs_updated = _finish_and_rate_runs(conn, seed, start, end)
        _remember_settings(conn, seed, world.activity, end)
    counts.seconds = time.monotonic() - started
    return counts


def parse_duration(text: str) -> timedelta:
    """'1h', '30m', '1d', '2d' -> timedelta; a clear error for anything else."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    number, unit = text[:-1], text[-1:].lower()
    if unit not in units or not number.isdigit() or int(number) == 0:
        raise GeneratorError(f"--append takes a duration such as 1h, 90m or 1d, not {text!r}")
    return timedelta(**{units[unit]: int(number)})


def demo_database(
    server: db.Server, name: str, options: GenerateOptions, progress: Progress = quiet,
    dbt_args: tuple[str, ...] = (),
) -> tuple[db.Server, Counts]:
    """A new database as Supabase makes one, with the demo app, the owner's deploy and generated
    data, written as the platform writes it (auth.users included): what the benchmark, the
    tests and scripts/measure-erasure start from."""
    made = cluster.create_supabase_database(server, name)
    bootstrap.prepare_demo_database(made, dbt_args)
    with db.connect(made.admin) as conn:
        return made, generate(conn, options, progress)


def _check_target(conn: psycopg.Connection, allow_real_app: bool) -> None:
    if not bootstrap.is_standin_app(conn) and not allow_real_app:
        raise bootstrap.RefusedRealApp(
            "this database has a real app in public: generating would write made-up users into it "
            "(use --allow-real-app to insist)"
        )


def _remember_settings(conn: psycopg.Connection, seed: int, activity: float, end: datetime) -> None:
    """Kept on the stand-in's agent_runs table, so an append continues with the same world
    from exactly where the last stretch ended (sessions that began at its very end included)."""
    db.write_note(conn, "table", "public.agent_runs", SETTINGS_PREFIX,
                  {"seed": seed, "activity": activity, "end": end.isoformat()})


def remembered_settings(conn: psycopg.Connection) -> dict:
    """The seed, activity and end of the last generate or append; empty for data from before."""
    return db.read_note(conn, "table", "public.agent_runs", SETTINGS_PREFIX) or {}


def _data_end(conn: psycopg.Connection) -> datetime:
    """For data generated before the end was remembered: just after the latest row."""
    row = conn.execute(
        "select greatest((select max(created_at) from analytics.user_activity), "
        "(select max(started_at) from public.agent_runs))"
    ).fetchone()
    if not row or row[0] is None:
        raise GeneratorError("there is no data to append to: run generate first")
    return row[0] + timedelta(microseconds=1)


def _write_app(conn: psycopg.Connection, app: App, counts: Counts, progress: Progress) -> None:
    """The app's tables; on Supabase a user signs up through auth first, and the app's
    users.id references auth.users."""
    with _copy(conn, "public.workspaces", simulate.Workspace._fields) as copy:
        for workspace in app.workspaces:
            copy.write_row(workspace)
    if conn.execute("select to_regclass('auth.users') is not null").fetchone()[0]:
        with _copy(conn, "auth.users", ("id", "aud", "role", "email", "created_at", "updated_at")) as copy:
            for user in app.users:
                copy.write_row((user.id, "authenticated", "authenticated", user.email, user.created_at,
                                user.created_at))
    for table, rows, columns in (("public.users", app.users, simulate.User._fields),
                                 ("public.workspace_members", app.memberships, simulate.Membership._fields),
                                 ("public.agents", app.agents, simulate.Agent._fields)):
        with _copy(conn, table, columns) as copy:
            for row in rows:
                copy.write_row(row)
    counts.workspaces, counts.users = len(app.workspaces), len(app.users)
    counts.memberships, counts.agents = len(app.memberships), len(app.agents)
    progress("app tables", 1, 1, counts.users + counts.memberships + counts.agents + counts.workspaces)


def _read_world(conn: psycopg.Connection, seed: int, activity: float) -> World:
    """The people and agents of an existing stand-in app, with the same habits as when generated."""
    memberships: dict[str, list[str]] = {}
    for user_id, workspace_id in conn.execute(
        "select user_id::text, workspace_id::text from public.workspace_members order by user_id, joined_at, workspace_id"
    ):
        memberships.setdefault(user_id, []).append(workspace_id)
    people = []
    for user_id, created_at in conn.execute("select id::text, created_at from public.users order by created_at, id"):
        spaces = memberships.get(user_id)
        if not spaces:
            continue
        people.append(simulate.person(seed, user_id, created_at, tuple(spaces)))
    agents: dict[str, list[str]] = {}
    for agent_id, workspace_id in conn.execute(
        "select id::text, workspace_id::text from public.agents order by created_at, id"
    ):
        agents.setdefault(workspace_id, []).append(agent_id)
    return World(people=people, agents=agents, activity=activity)


def _ensure_partitions(conn: psycopg.Connection, start: datetime, end: datetime) -> None:
    conn.execute(
        "select analytics.ensure_user_activity_partitions(%s::date, %s::date)",
        (start.astimezone(UTC).date() - timedelta(days=1), end.astimezone(UTC).date() + timedelta(days=1)),
    )


@contextmanager
def _indexes_rebuilt_after(conn: psycopg.Connection, enabled: bool, progress: Progress) -> Iterator[None]:
    """Both big tables: events, and runs when public is our stand-in (a real app's indexes are not ours)."""
    with bulk.table_indexes_rebuilt_after(conn, "analytics.user_activity", enabled, progress), \
            bulk.table_indexes_rebuilt_after(
                conn, "public.agent_runs", enabled and bootstrap.is_standin_app(conn), progress):
        yield


def _write_activity(
    conn: psycopg.Connection,
    world: World,
    seed: int,
    start: datetime,
    end: datetime,
    counts: Counts,
    progress: Progress,
    late_from: datetime | None = None,
) -> None:
    """Simulate people in slices on every core while this process feeds COPY. The history
    (no late_from) is written day by day in time order, as it would have arrived, so each
    partition lies in created_at and ingested_at order as a real one does; an append
    arrives now, ingested_at stamped by the table's default."""
    slices = [tuple(world.people[first:first + SLICE_SIZE]) for first in range(0, len(world.people), SLICE_SIZE)]
    days: list[datetime | None]
    if late_from is None:
        first_day = datetime(start.year, start.month, start.day, tzinfo=UTC)
        days = [first_day + timedelta(days=offset) for offset in range((end - first_day).days + 1)]
    else:
        days = [None]
    written_at = datetime.now(UTC) if late_from is not None else None
    stretches = [
        Stretch(people, simulate.agents_of(people, world.agents), world.activity, seed, start, end, late_from, day,
                written_at)
        for day in days for people in slices
    ]
    columns = Event._fields if late_from is not None else (*Event._fields, "ingested_at")
    run_lines: list[str] = []
    workers = max(1, min(len(stretches), os.cpu_count() or 1))
    with multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn").Pool(workers) as pool, \
            _copy(conn, "analytics.user_activity", columns) as copy:
        results = pool.imap(_simulated_lines, stretches, chunksize=4)
        for done_days, _ in enumerate(days, start=1):
            day_events = []
            for _ in slices:
                events, runs, late = next(results)
                day_events.append(events)
                run_lines.extend(runs)
                counts.late_events += late
            for _, line in heapq.merge(*day_events, key=lambda event: event[0]):
                copy.write(line)
                counts.events += 1
            progress("user_activity", done_days * len(slices), len(stretches), counts.events)
    with _copy(conn, "public.agent_runs", AgentRun._fields) as copy:
        for first in range(0, len(run_lines), 20_000):
            copy.write("".join(run_lines[first:first + 20_000]))
    counts.runs += len(run_lines)
    progress("agent_runs", 1, 1, counts.runs)


def _simulated_lines(stretch: Stretch) -> tuple[list[tuple[datetime, str]], list[str], int]:
    """A worker's task: one stretch simulated and encoded for COPY there, where it is cheap to
    do in parallel. Events as (created_at, line) in time order, runs as lines, and the count of
    late events. History events arrived as they happened: their ingested_at is created_at."""
    rows = simulate.simulate(stretch)
    history = stretch.day is not None
    events = [(event.created_at, _event_line(event, history)) for event in rows.events]
    return events, [copy_line(run) for run in rows.runs], rows.late_events


# -- COPY's text format -------------------------------------------------------------------

def copy_line(row: Iterable[object]) -> str:
    """One row in COPY's text format, its text taken as it is: every text column the generator
    writes comes from its fixed vocabularies, without tabs, newlines or backslashes, except an
    event's JSON metadata (_event_line escapes it)."""
    return "\t".join(
        "\\N" if value is None else value if type(value) is str
        else value.isoformat() if type(value) is datetime else str(value)
        for value in row
    ) + "\n"


def copy_text(text: str) -> str:
    """Text escaped for COPY's text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _event_line(event: Event, stamped: bool) -> str:
    """An event's line; `stamped` adds ingested_at = created_at (the history arrived as it happened)."""
    if "\\" in event.metadata:  # json.dumps escapes with backslashes, and writes no raw tab or newline
        event = event._replace(metadata=copy_text(event.metadata))
    return copy_line((*event, event.created_at) if stamped else event)


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...]) -> psycopg.Copy:
    return conn.cursor().copy(
        sql.SQL("copy {} ({}) from stdin").format(
            sql.SQL(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
    )


def _finish_and_rate_runs(conn: psycopg.Connection, seed: int, start: datetime, end: datetime) -> int:
    """Runs written as still going finish when their time comes, and some earlier runs get
    rated: both change rows of past days, as the app's in-place updates do."""
    finished = conn.execute(
        """
        update public.agent_runs
        set status = 'completed', runtime_seconds = round(extract(epoch from %(end)s - started_at)::numeric, 3),
            completed_at = %(end)s,
            credits_consumed = round(extract(epoch from %(end)s - started_at)::numeric * 0.01, 4),
            tokens_used = (extract(epoch from %(end)s - started_at) * 60)::integer
        where status in ('queued', 'running') and started_at < %(end)s
        """,
        {"end": end},
    ).rowcount
    rated = conn.execute(
        """
        update public.agent_runs
        set user_rating = 1 + abs(hashtext(id::text || %(seed)s)) %% 5
        where status = 'completed' and user_rating is null
          and started_at >= %(start)s - interval '3 days' and started_at < %(start)s
          and abs(hashtext(id::text || %(seed)s || %(start)s::text)) %% 100 < 4
        """,
        {"seed": str(seed), "start": start},
    ).rowcount
    return finished + rated
