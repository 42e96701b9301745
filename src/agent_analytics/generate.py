"""Deterministic, realistic data for the stand-in app and analytics.user_activity.

The same seed gives the same rows. Everything a person does derives from a random stream
seeded by (seed, user, day), so an append of the next hour continues the same world.
"""

from __future__ import annotations

import heapq
import json
import math
import multiprocessing
import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from agent_analytics.bootstrap import RefusedRealApp, app_row_count, is_standin_app
from agent_analytics import db
from agent_analytics.errors import AgentAnalyticsError
from agent_analytics.progress import Progress, quiet


@dataclass(frozen=True)
class Scale:
    workspaces: int
    users: int
    days: int
    activity: float = 1.0  # multiplies every user's sessions per day


SCALES: dict[str, Scale] = {
    "tiny": Scale(workspaces=3, users=20, days=7, activity=2.0),
    "small": Scale(workspaces=20, users=500, days=30),
    "medium": Scale(workspaces=200, users=10_000, days=90, activity=1.6),
    "large": Scale(workspaces=1_000, users=50_000, days=90, activity=3.2),
}

PLANS = (("free", 0.6), ("pro", 0.3), ("enterprise", 0.1))
# (model, credits per second of runtime, tokens per second)
MODELS = (("gpt-4o", 0.020, 60), ("gpt-4o-mini", 0.004, 90), ("claude-sonnet", 0.018, 55), ("llama-3-70b", 0.006, 70))
RUN_ERRORS = {
    "timeout": ("Run exceeded 300 s", "Tool call timed out"),
    "rate_limit": ("Model rate limit reached", "429 from provider"),
    "tool_error": ("Search tool returned 500", "Invalid tool arguments"),
    "": ("Unexpected failure",),
}
CLIENT_ERRORS = ("network", "validation", "render", "network", "")
PAGES = ("/dashboard", "/agents", "/agents/new", "/runs", "/reports", "/settings", "/billing", "/docs")
ACCOUNT_PAGES = ("/account", "/account/security")  # outside any workspace
REFERRERS = (None, None, None, "https://www.google.com/", "https://news.ycombinator.com/", "https://github.com/")
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148",
    "agent-analytics-sdk/1.4 python",
)
NEXT_EVENTS = (
    ("page_view", 45), ("feature_use", 13), ("api_call", 14), ("agent_run", 14), ("error", 3),
    ("report_view", 4), ("export", 2), ("workspace_switch", 3), ("logout", 2),
)
NEXT_TYPES = tuple(kind for kind, _ in NEXT_EVENTS)
NEXT_CUMULATIVE = tuple(
    sum(weight for _, weight in NEXT_EVENTS[: index + 1]) for index in range(len(NEXT_EVENTS))
)
FEATURES = ("prompt_editor", "tool_builder", "scheduler", "sharing", "templates")
ENDPOINTS = ("/v1/agents", "/v1/runs", "/v1/reports", "/v1/search")
# UTC hour weights: a working-day curve peaking in the afternoon, quiet at night.
HOUR_WEIGHTS = tuple(0.15 + math.exp(-((hour - 14.5) ** 2) / 18) for hour in range(24))
HOUR_CUMULATIVE = tuple(sum(HOUR_WEIGHTS[: hour + 1]) for hour in range(24))

EVENT_COLUMNS = (
    "id", "user_id", "workspace_id", "event_type", "event_name", "page_path", "session_id",
    "ip_address", "user_agent", "referrer", "metadata", "created_at",
)
RUN_COLUMNS = (
    "id", "agent_id", "workspace_id", "user_id", "status", "started_at", "completed_at", "runtime_seconds",
    "credits_consumed", "model", "tokens_used", "error_type", "error_message", "user_rating", "feedback",
    "updated_at",
)
# Below this many expected events, keep the indexes during COPY; above, rebuild them after.
BULK_LOAD_THRESHOLD = 500_000
# Late sessions per expected session of a window: they happened in the last 70 hours and
# arrive with the append.
LATE_SESSION_RATE = 0.2
MAX_LATENESS = timedelta(hours=70)


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


@dataclass(frozen=True)
class Person:
    user_id: str
    created_at: datetime
    workspaces: tuple[str, ...]
    engagement: float  # expected sessions on a weekday
    ip: str
    user_agent: str


@dataclass
class World:
    people: list[Person]
    agents: dict[str, list[str]]
    activity: float


def _uuid(rng: random.Random) -> str:
    """A version-4 UUID as text: the generator writes text to COPY, so it never builds UUID objects."""
    bits = (rng.getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    text = "%032x" % bits
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _copy_line(row: tuple) -> str:
    """One row in COPY's text format. Free text is escaped where it is made (_copy_text)."""
    return "\t".join(
        "\\N" if value is None else value if type(value) is str
        else value.isoformat() if type(value) is datetime else str(value)
        for value in row
    ) + "\n"


def _copy_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _stream(seed: int, *parts: object) -> random.Random:
    """A random stream of its own for one person-day, so appends continue the same world."""
    return random.Random(f"{seed}:" + ":".join(map(str, parts)))


def _check_target(conn: psycopg.Connection, allow_real_app: bool) -> None:
    if not is_standin_app(conn) and not allow_real_app:
        raise RefusedRealApp(
            "this database has a real app in public: generating would write made-up users into it "
            "(use --allow-real-app to insist)"
        )


def generate(conn: psycopg.Connection, options: GenerateOptions, progress: Progress = quiet) -> Counts:
    """Fill an empty stand-in app and analytics.user_activity; returns what was written."""
    _check_target(conn, options.allow_real_app)
    if app_row_count(conn):
        raise GeneratorError(
            "the stand-in app already has users: use --append to add time, or a fresh database"
        )
    rng = random.Random(options.seed)
    counts = Counts()
    expected_events = options.scale.users * (options.days or options.scale.days) * 2 * options.scale.activity
    with conn.transaction():
        world = _write_app(conn, rng, options, counts, progress)
        _ensure_partitions(conn, options.start - MAX_LATENESS, options.end)
        with _indexes_rebuilt_after(conn, expected_events >= BULK_LOAD_THRESHOLD, progress):
            _write_activity(conn, world, options.seed, options.start, options.end, counts, progress)
        _remember_settings(conn, options.seed, options.scale.activity, options.end)
    conn.execute("analyze public.agent_runs")
    conn.execute("analyze analytics.user_activity")
    return counts


SETTINGS_PREFIX = "agent-analytics generator settings: "


def _remember_settings(conn: psycopg.Connection, seed: int, activity: float, end: datetime) -> None:
    """Kept on the stand-in's agent_runs table, so an append continues with the same world
    from exactly where the last stretch ended (sessions that began at its very end included)."""
    db.write_note(conn, "table", "public.agent_runs", SETTINGS_PREFIX,
                  {"seed": seed, "activity": activity, "end": end.isoformat()})


def _remembered_settings(conn: psycopg.Connection) -> dict:
    return db.read_note(conn, "table", "public.agent_runs", SETTINGS_PREFIX) or {}


def append(
    conn: psycopg.Connection, duration: timedelta, seed: int | None = None, allow_real_app: bool = False,
    progress: Progress = quiet,
) -> Counts:
    """The next stretch of time after the last data: new events and runs, events that arrive
    late for the past 70 hours, runs that finish, and ratings of earlier runs."""
    _check_target(conn, allow_real_app)
    if duration <= timedelta(0):
        raise GeneratorError("--append needs a positive duration such as 1h or 1d")
    settings = _remembered_settings(conn)
    seed = int(settings.get("seed", 42)) if seed is None else seed
    start = datetime.fromisoformat(settings["end"]) if "end" in settings else _data_end(conn)
    end = start + duration
    world = _read_world(conn, seed, float(settings.get("activity", 1.0)))
    counts = Counts()
    with conn.transaction():
        _ensure_partitions(conn, start - MAX_LATENESS, end)
        _write_activity(conn, world, seed, start, end, counts, progress, late_from=start - MAX_LATENESS)
        counts.runs_updated = _finish_and_rate_runs(conn, seed, start, end)
        _remember_settings(conn, seed, world.activity, end)
    return counts


def parse_duration(text: str) -> timedelta:
    """'1h', '30m', '1d', '2d' -> timedelta; a clear error for anything else."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    number, unit = text[:-1], text[-1:].lower()
    if unit not in units or not number.isdigit() or int(number) == 0:
        raise GeneratorError(f"--append takes a duration such as 1h, 90m or 1d, not {text!r}")
    return timedelta(**{units[unit]: int(number)})


def _data_end(conn: psycopg.Connection) -> datetime:
    """For data generated before the end was remembered: just after the latest row."""
    row = conn.execute(
        "select greatest((select max(created_at) from analytics.user_activity), "
        "(select max(started_at) from public.agent_runs))"
    ).fetchone()
    if not row or row[0] is None:
        raise GeneratorError("there is no data to append to: run generate first")
    return row[0] + timedelta(microseconds=1)


def _write_app(
    conn: psycopg.Connection, rng: random.Random, options: GenerateOptions, counts: Counts, progress: Progress
) -> World:
    scale, start, end = options.scale, options.start, options.end
    workspaces = [(_uuid(rng), start - timedelta(days=rng.uniform(30, 400))) for _ in range(scale.workspaces)]
    with conn.cursor().copy("copy public.workspaces (id, name, plan, created_at) from stdin") as copy:
        for index, (workspace_id, created_at) in enumerate(workspaces):
            plan = rng.choices([p for p, _ in PLANS], [w for _, w in PLANS])[0]
            copy.write_row((workspace_id, f"Workspace {index + 1}", plan, created_at))
    counts.workspaces = len(workspaces)

    # Workspace sizes on a long tail.
    size_weights = [rng.paretovariate(1.1) for _ in workspaces]
    people: list[Person] = []
    window = (end - start).total_seconds()
    for index in range(scale.users):
        signed_up = (
            start - timedelta(days=rng.uniform(1, 300)) if rng.random() < 0.75
            else start + timedelta(seconds=rng.uniform(0, window))
        )
        home = workspaces[rng.choices(range(len(workspaces)), size_weights)[0]][0]
        spaces = [home]
        while rng.random() < 0.25 and len(spaces) < 4:
            extra = workspaces[rng.randrange(len(workspaces))][0]
            if extra not in spaces:
                spaces.append(extra)
        people.append(_person(options.seed, _uuid(rng), signed_up, tuple(spaces)))
    if conn.execute("select to_regclass('auth.users') is not null").fetchone()[0]:
        # On Supabase a user signs up through auth first; the app's users.id references auth.users.
        with conn.cursor().copy(
            "copy auth.users (id, aud, role, email, created_at, updated_at) from stdin"
        ) as copy:
            for index, person in enumerate(people):
                copy.write_row((person.user_id, "authenticated", "authenticated", f"user{index + 1}@example.com",
                                person.created_at, person.created_at))
    with conn.cursor().copy("copy public.users (id, email, full_name, created_at, last_sign_in_at) from stdin") as copy:
        for index, person in enumerate(people):
            copy.write_row((person.user_id, f"user{index + 1}@example.com", f"User {index + 1}", person.created_at, None))
    counts.users = len(people)

    workspace_created = dict(workspaces)
    members_of: dict[str, list[str]] = {}
    with conn.cursor().copy("copy public.workspace_members (workspace_id, user_id, role, joined_at) from stdin") as copy:
        for person in people:
            for position, workspace_id in enumerate(person.workspaces):
                first = workspace_id not in members_of
                members_of.setdefault(workspace_id, []).append(person.user_id)
                role = "owner" if first else rng.choice(("admin", "member", "member", "member", "viewer"))
                joined = max(person.created_at, workspace_created[workspace_id])
                copy.write_row((workspace_id, person.user_id, role, joined + timedelta(minutes=position)))
                counts.memberships += 1

    agents: dict[str, list[str]] = {}
    with conn.cursor().copy("copy public.agents (id, workspace_id, name, created_by, created_at) from stdin") as copy:
        for workspace_id, created_at in workspaces:
            # Agents per workspace on a power law; many are hardly ever run.
            for index in range(1 + min(40, int(rng.paretovariate(1.3)))):
                agent_id = _uuid(rng)
                author = rng.choice(members_of[workspace_id]) if workspace_id in members_of else None
                copy.write_row((agent_id, workspace_id, f"Agent {index + 1}", author, created_at + timedelta(days=1)))
                agents.setdefault(workspace_id, []).append(agent_id)
                counts.agents += 1
    progress("app tables", 1, 1, counts.users + counts.memberships + counts.agents + counts.workspaces)
    return World(people=people, agents=agents, activity=scale.activity)


def _person(seed: int, user_id: str, created_at: datetime, spaces: tuple[str, ...]) -> Person:
    """A user's habits, drawn from their id, so a later append finds the same person.
    One workspace in ten has gone quiet: its members no longer show up (idle tenants)."""
    habits = _stream(seed, "habits", user_id)
    dormant = _stream(seed, "dormant", spaces[0]).random() < 0.1
    return Person(
        user_id=user_id,
        created_at=created_at,
        workspaces=spaces,
        engagement=0.0 if dormant else habits.lognormvariate(-1.2, 0.9),
        ip=f"10.{habits.randrange(256)}.{habits.randrange(256)}.{habits.randrange(1, 255)}",
        user_agent=habits.choice(USER_AGENTS),
    )


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
        people.append(_person(seed, user_id, created_at, tuple(spaces)))
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
    with table_indexes_rebuilt_after(conn, "analytics.user_activity", enabled, progress), \
            table_indexes_rebuilt_after(conn, "public.agent_runs", enabled and is_standin_app(conn), progress):
        yield


@contextmanager
def table_indexes_rebuilt_after(
    conn: psycopg.Connection, table: str, enabled: bool, progress: Progress
) -> Iterator[None]:
    """For a big load: drop the table's indexes, primary key and foreign keys, load, then
    recreate them from their own definitions. Building each index once is far faster than
    updating eight per row, and re-adding the keys checks every row. All in the load's
    transaction: a failure leaves the table as it was."""
    if not enabled:
        yield
        return
    indexes = conn.execute(
        "select indexrelid::regclass::text, pg_get_indexdef(indexrelid) from pg_index "
        "where indrelid = %s::regclass and not indisprimary",
        (table,),
    ).fetchall()
    # The primary key goes first and comes back first, so uniqueness is checked on the whole load.
    foreign_keys = conn.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint where conrelid = %s::regclass "
        "and contype in ('p', 'f') order by contype desc",
        (table,),
    ).fetchall()
    # Keys of other tables that reference this one (analytics_internal.run_keys references the
    # runs) stand on its primary key: they go first and come back last.
    referencing = conn.execute(
        "select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint "
        "where confrelid = %s::regclass and contype = 'f' and conrelid <> confrelid",
        (table,),
    ).fetchall()
    for other, name, _ in referencing:
        conn.execute(sql.SQL("alter table {} drop constraint {}").format(sql.SQL(other), sql.Identifier(name)))
    for name, _ in indexes:
        conn.execute(sql.SQL("drop index {}").format(sql.SQL(name)))
    for name, _ in reversed(foreign_keys):
        conn.execute(sql.SQL("alter table {} drop constraint {}").format(sql.SQL(table), sql.Identifier(name)))
    yield
    conn.execute("set local maintenance_work_mem = '1GB'")
    steps = len(indexes) + len(foreign_keys)
    for done, (name, definition) in enumerate(foreign_keys[:1] + indexes + foreign_keys[1:], start=1):
        progress(f"indexes of {table.split('.')[-1]}", done - 1, steps, 0)
        if definition.startswith("CREATE"):
            # A partitioned table's index prints as ON ONLY, which would build it for the parent
            # alone and leave it invalid, with no index on any partition.
            conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
        else:
            conn.execute(sql.SQL("alter table {} add constraint {} " + definition).format(sql.SQL(table), sql.Identifier(name)))
    for other, name, definition in referencing:
        conn.execute(sql.SQL("alter table {} add constraint {} " + definition).format(sql.SQL(other), sql.Identifier(name)))
    progress(f"indexes of {table.split('.')[-1]}", steps, steps, 0)


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...]) -> psycopg.Copy:
    return conn.cursor().copy(
        sql.SQL("copy {} ({}) from stdin").format(
            sql.SQL(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
    )


@dataclass(frozen=True)
class _Stretch:
    """What one worker simulates: a slice of the people over one stretch of time, or only
    the sessions that begin on `day` when the history is written day by day."""

    people: tuple[Person, ...]
    agents: dict[str, list[str]]
    activity: float
    seed: int
    start: datetime
    end: datetime
    late_from: datetime | None
    day: datetime | None = None
    written_at: datetime | None = None


def _simulate(stretch: _Stretch) -> tuple[list[tuple[datetime, str]], list[str], int]:
    """Events as (created_at, COPY line) in time order, runs as COPY lines, and the count of
    late events. History events arrived as they happened: their ingested_at is created_at."""
    world = World(people=list(stretch.people), agents=stretch.agents, activity=stretch.activity)
    runs: list[tuple] = []
    events: list[tuple] = []
    late = 0
    for person in stretch.people:
        events.extend(_person_events(person, world, stretch.seed, stretch.start, stretch.end, runs, stretch.day))
        if stretch.late_from is not None:
            for event in _late_events(person, world, stretch.seed, stretch.late_from, stretch.start, stretch.end, runs):
                events.append(event)
                late += 1
    if stretch.written_at is not None:
        # An append reaches the database now, and the app stamps updated_at on every write:
        # a run whose simulated stamp is earlier was still written after any earlier build.
        runs = [(*run[:15], max(run[15], stretch.written_at)) for run in runs]
    events.sort(key=lambda event: event[-1])
    stamped = (event + (event[-1],) for event in events) if stretch.day is not None else events
    return [(event[-1], _copy_line(event)) for event in stamped], [_copy_line(run) for run in runs], late


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
    slice_size = 250
    slices = [tuple(world.people[first:first + slice_size]) for first in range(0, len(world.people), slice_size)]
    if late_from is None:
        first_day = datetime(start.year, start.month, start.day, tzinfo=UTC)
        days = [first_day + timedelta(days=offset) for offset in range((end - first_day).days + 1)]
    else:
        days = [None]
    written_at = datetime.now(UTC) if late_from is not None else None
    stretches = [
        _Stretch(people, _agents_of(people, world.agents), world.activity, seed, start, end, late_from, day,
                 written_at)
        for day in days for people in slices
    ]
    columns = EVENT_COLUMNS if late_from is not None else (*EVENT_COLUMNS, "ingested_at")
    run_lines: list[str] = []
    workers = max(1, min(len(stretches), os.cpu_count() or 1))
    with multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn").Pool(workers) as pool, \
            _copy(conn, "analytics.user_activity", columns) as copy:
        results = pool.imap(_simulate, stretches, chunksize=4)
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
    with _copy(conn, "public.agent_runs", RUN_COLUMNS) as copy:
        for first in range(0, len(run_lines), 20_000):
            copy.write("".join(run_lines[first:first + 20_000]))
    counts.runs += len(run_lines)
    progress("agent_runs", 1, 1, counts.runs)


def _agents_of(people: tuple[Person, ...], agents: dict[str, list[str]]) -> dict[str, list[str]]:
    """The agents of these people's workspaces: what a worker needs, not the whole world."""
    return {space: agents[space] for person in people for space in person.workspaces}


def _person_events(
    person: Person, world: World, seed: int, start: datetime, end: datetime, runs: list[tuple],
    only_day: datetime | None = None,
) -> Iterator[tuple]:
    """Sessions that begin in [start, end), or only those that begin on only_day. Each day
    draws from a stream of its own, so simulating one day gives what the whole stretch would."""
    day = datetime(start.year, start.month, start.day, tzinfo=UTC)
    while day < end:
        if only_day is not None and day != only_day:
            day += timedelta(days=1)
            continue
        rng = _stream(seed, person.user_id, day.date())
        rate = person.engagement * world.activity * (0.35 if day.weekday() >= 5 else 1.0)
        sessions = int(rate) + (rng.random() < rate - int(rate))
        for _ in range(sessions):
            hour = _weighted_hour(rng)
            begins = day + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
            # Draw the whole session either way, so a day split across appends stays the same.
            session_runs: list[tuple] = []
            events = list(_session(rng, person, world, begins, session_runs, until=end))
            if start <= begins < end and begins >= person.created_at:
                for event in events:
                    if event[-1] < end:
                        yield event
                runs.extend(run for run in session_runs if run[5] < end)
        day += timedelta(days=1)


def _late_events(
    person: Person, world: World, seed: int, late_from: datetime, start: datetime, end: datetime, runs: list[tuple]
) -> Iterator[tuple]:
    """Sessions that happened in the past 70 hours but reach the server only now."""
    rng = _stream(seed, "late", person.user_id, start.isoformat())
    if rng.random() > LATE_SESSION_RATE * person.engagement * world.activity * ((end - start) / timedelta(days=1)):
        return
    begins = late_from + (start - late_from) * rng.random()
    if begins < person.created_at:
        return
    session_runs: list[tuple] = []
    yield from (event for event in _session(rng, person, world, begins, session_runs, until=end) if event[-1] < start)
    # The app writes these runs only now, and updated_at is stamped on every write.
    runs.extend((*run[:15], max(run[15], start)) for run in session_runs if run[5] < start)


def _weighted_hour(rng: random.Random) -> int:
    point = rng.random() * HOUR_CUMULATIVE[-1]
    for hour, bound in enumerate(HOUR_CUMULATIVE):
        if point < bound:
            return hour
    return 23


def _next_event_type(rng: random.Random) -> str:
    point = rng.random() * NEXT_CUMULATIVE[-1]
    for kind, bound in zip(NEXT_TYPES, NEXT_CUMULATIVE):
        if point < bound:
            return kind
    return NEXT_TYPES[-1]


def _session(
    rng: random.Random, person: Person, world: World, at: datetime, runs: list[tuple], until: datetime
) -> Iterator[tuple]:
    spaces = person.workspaces
    workspace_id = spaces[0] if rng.random() < 0.7 else rng.choice(spaces)
    session_id = _uuid(rng)
    length = 1 + min(40, int(rng.expovariate(0.2)))
    first = rng.random()
    first_type = "page_view" if first < 0.7 else "login"
    for position in range(length):
        event_type = first_type if position == 0 else _next_event_type(rng)
        if position:
            at += timedelta(seconds=rng.lognormvariate(3.6, 1.1))
        event_workspace: str | None = workspace_id
        event_session: str | None = session_id
        page = name = referrer = None
        metadata = "{}"
        if event_type == "login" or event_type == "logout":
            event_workspace = None
        elif event_type == "page_view":
            if rng.random() < 0.05:
                page, event_workspace = rng.choice(ACCOUNT_PAGES), None
            else:
                page = rng.choice(PAGES)
            if position == 0:
                referrer = rng.choice(REFERRERS)
        elif event_type == "workspace_switch":
            if len(spaces) > 1:
                workspace_id = rng.choice([space for space in spaces if space != workspace_id])
            event_workspace = workspace_id
        elif event_type == "api_call":
            if rng.random() < 0.3:
                event_session = None  # server-side calls carry no session
            response = round(rng.lognormvariate(5.0, 0.7), 1)
            metadata = _copy_text(json.dumps({
                # one call in a thousand reports its time as text: staging must not break on it
                "response_time_ms": response if rng.random() > 0.001 else f"{response}ms",
                "endpoint": rng.choice(ENDPOINTS),
                "status_code": rng.choices((200, 201, 400, 429, 500), (80, 8, 6, 3, 3))[0],
            }))
        elif event_type == "error":
            error_type = rng.choice(CLIENT_ERRORS)
            metadata = _copy_text(json.dumps({"error_type": error_type, "message": f"{error_type or 'unclassified'} error"}))
        elif event_type == "feature_use":
            name = rng.choice(FEATURES)
            metadata = _copy_text(json.dumps({"feature": name}))
        elif event_type in ("export", "report_view"):
            metadata = _copy_text(json.dumps({"report": rng.choice(("usage", "costs", "quality"))}))
        elif event_type == "agent_run":
            run = _run(rng, world, person.user_id, workspace_id, at, until)
            runs.append(run)
            metadata = _copy_text(json.dumps({"agent_id": run[1], "run_id": run[0]}))
        yield (
            _uuid(rng), person.user_id, event_workspace, event_type, name, page, event_session,
            person.ip, person.user_agent, referrer, metadata, at,
        )


def _run(
    rng: random.Random, world: World, user_id: str, workspace_id: str, started_at: datetime,
    until: datetime,
) -> tuple:
    agents = world.agents[workspace_id]
    agent_id = agents[min(len(agents) - 1, int(rng.expovariate(0.7)))]  # a few agents do most runs
    model, credit_rate, token_rate = MODELS[min(len(MODELS) - 1, int(rng.expovariate(0.8)))]
    runtime = round(rng.lognormvariate(3.0, 1.0), 3)
    status = rng.choices(("completed", "failed", "cancelled"), (84, 11, 5))[0]
    error_type = error_message = None
    rating = feedback = None
    runtime_value: float | None = runtime
    if status == "failed":
        kind = rng.choice(list(RUN_ERRORS))
        error_type, error_message = kind or None, rng.choice(RUN_ERRORS[kind])
        runtime = runtime_value = round(runtime * rng.random(), 3)
    elif status == "cancelled" and rng.random() < 0.5:
        runtime_value = None
    # Every draw happens whatever `until` is, so the stream (and every later id) is the same
    # whether this run is still going at the end of one append or finished in the next.
    rated, stars, with_feedback = rng.random() < 0.12, rng.choices((1, 2, 3, 4, 5), (5, 5, 15, 35, 40))[0], rng.random()
    rated_after = timedelta(minutes=rng.uniform(1, 180))
    run_id = _uuid(rng)
    completed_at: datetime | None = started_at + timedelta(seconds=runtime)
    if completed_at >= until:  # still going when the data ends: finishes in a later append
        status, completed_at, runtime_value, error_type, error_message = "running", None, None, None, None
    credits = round(runtime_value * credit_rate, 4) if runtime_value is not None else 0
    tokens = int(runtime_value * token_rate) if runtime_value is not None else 0
    updated_at = completed_at or started_at
    if status == "completed" and completed_at is not None and rated:
        rating = stars
        feedback = "Helpful" if with_feedback < 0.3 else None
        updated_at = min(until, completed_at + rated_after)
    return (
        run_id, agent_id, workspace_id, user_id, status, started_at, completed_at, runtime_value, credits,
        model, tokens, error_type, error_message, rating, feedback, updated_at,
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
