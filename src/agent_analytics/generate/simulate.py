"""The generator's world and what its people do, drawn from a seed; no database here (load.py
writes what this draws).

The same seed gives the same rows. Everything a person does derives from a random stream
seeded by (seed, user, day), so an append of the next hour continues the same world.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
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
# Late sessions per expected session of a window: they happened in the last 70 hours and
# arrive with the append.
LATE_SESSION_RATE = 0.2
MAX_LATENESS = timedelta(hours=70)


# The rows, field for field the columns of their tables (load.py copies them by these names).

class Workspace(NamedTuple):
    id: str
    name: str
    plan: str
    created_at: datetime


class User(NamedTuple):
    id: str
    email: str
    full_name: str
    created_at: datetime
    last_sign_in_at: datetime | None


class Membership(NamedTuple):
    workspace_id: str
    user_id: str
    role: str
    joined_at: datetime


class Agent(NamedTuple):
    id: str
    workspace_id: str
    name: str
    created_by: str | None
    created_at: datetime


class Event(NamedTuple):
    """A row of analytics.user_activity."""

    id: str
    user_id: str
    workspace_id: str | None
    event_type: str
    event_name: str | None
    page_path: str | None
    session_id: str | None
    ip_address: str
    user_agent: str
    referrer: str | None
    metadata: str  # JSON text
    created_at: datetime


class AgentRun(NamedTuple):
    """A row of the app's public.agent_runs."""

    id: str
    agent_id: str
    workspace_id: str
    user_id: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    runtime_seconds: float | None
    credits_consumed: float
    model: str
    tokens_used: int
    error_type: str | None
    error_message: str | None
    user_rating: int | None
    feedback: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    created_at: datetime
    workspaces: tuple[str, ...]
    engagement: float  # expected sessions on a weekday
    ip: str
    user_agent: str


@dataclass(slots=True)
class World:
    people: list[Person]
    agents: dict[str, list[str]]
    activity: float


@dataclass(frozen=True, slots=True)
class App:
    """The stand-in app's rows, and the world its people act in."""

    workspaces: list[Workspace]
    users: list[User]
    memberships: list[Membership]
    agents: list[Agent]
    world: World


def uuid4_text(rng: random.Random) -> str:
    """A version-4 UUID as text: rows go to COPY as text, so the generator never builds UUID objects."""
    bits = (rng.getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _stream(seed: int, *parts: object) -> random.Random:
    """A random stream of its own for one person-day, so appends continue the same world."""
    return random.Random(f"{seed}:" + ":".join(map(str, parts)))


def app(scale: Scale, seed: int, start: datetime, end: datetime) -> App:
    """Workspaces, people (most signed up before `start`), their memberships and the agents.
    One stream draws them all, in this order: a change of order changes every row after it."""
    rng = random.Random(seed)
    drawn = [(uuid4_text(rng), start - timedelta(days=rng.uniform(30, 400))) for _ in range(scale.workspaces)]
    workspaces = [
        Workspace(workspace_id, f"Workspace {index + 1}", rng.choices([p for p, _ in PLANS], [w for _, w in PLANS])[0],
                  created_at)
        for index, (workspace_id, created_at) in enumerate(drawn)
    ]

    # Workspace sizes on a long tail.
    size_weights = [rng.paretovariate(1.1) for _ in workspaces]
    people: list[Person] = []
    window = (end - start).total_seconds()
    for _ in range(scale.users):
        signed_up = (
            start - timedelta(days=rng.uniform(1, 300)) if rng.random() < 0.75
            else start + timedelta(seconds=rng.uniform(0, window))
        )
        home = workspaces[rng.choices(range(len(workspaces)), size_weights)[0]].id
        spaces = [home]
        while rng.random() < 0.25 and len(spaces) < 4:
            extra = workspaces[rng.randrange(len(workspaces))].id
            if extra not in spaces:
                spaces.append(extra)
        people.append(person(seed, uuid4_text(rng), signed_up, tuple(spaces)))
    users = [
        User(someone.user_id, f"user{index + 1}@example.com", f"User {index + 1}", someone.created_at, None)
        for index, someone in enumerate(people)
    ]

    workspace_created = {workspace.id: workspace.created_at for workspace in workspaces}
    members_of: dict[str, list[str]] = {}
    memberships = []
    for someone in people:
        for position, workspace_id in enumerate(someone.workspaces):
            first = workspace_id not in members_of
            members_of.setdefault(workspace_id, []).append(someone.user_id)
            role = "owner" if first else rng.choice(("admin", "member", "member", "member", "viewer"))
            joined = max(someone.created_at, workspace_created[workspace_id])
            memberships.append(Membership(workspace_id, someone.user_id, role, joined + timedelta(minutes=position)))

    agents: list[Agent] = []
    agents_of: dict[str, list[str]] = {}
    for workspace in workspaces:
        # Agents per workspace on a power law; many are hardly ever run.
        for index in range(1 + min(40, int(rng.paretovariate(1.3)))):
            agent_id = uuid4_text(rng)
            author = rng.choice(members_of[workspace.id]) if workspace.id in members_of else None
            agents.append(Agent(agent_id, workspace.id, f"Agent {index + 1}", author,
                                workspace.created_at + timedelta(days=1)))
            agents_of.setdefault(workspace.id, []).append(agent_id)
    return App(workspaces, users, memberships, agents, World(people=people, agents=agents_of, activity=scale.activity))


def person(seed: int, user_id: str, created_at: datetime, spaces: tuple[str, ...]) -> Person:
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


@dataclass(frozen=True, slots=True)
class Stretch:
    """What one worker simulates: a slice of the people over one stretch of time, or only
    the sessions that begin on `day` when the history is written day by day. `late_from`
    (appends only) brings sessions since then that reach the server late; `written_at`
    is when an append writes its runs."""

    people: tuple[Person, ...]
    agents: dict[str, list[str]]
    activity: float
    seed: int
    start: datetime
    end: datetime
    late_from: datetime | None
    day: datetime | None = None
    written_at: datetime | None = None


class StretchRows(NamedTuple):
    events: list[Event]  # in time order
    runs: list[AgentRun]
    late_events: int


def simulate(stretch: Stretch) -> StretchRows:
    """The events and runs of one stretch."""
    world = World(people=list(stretch.people), agents=stretch.agents, activity=stretch.activity)
    runs: list[AgentRun] = []
    events: list[Event] = []
    late = 0
    for someone in stretch.people:
        events.extend(person_events(someone, world, stretch.seed, stretch.start, stretch.end, runs, stretch.day))
        if stretch.late_from is not None:
            for event in late_events(someone, world, stretch.seed, stretch.late_from, stretch.start, stretch.end, runs):
                events.append(event)
                late += 1
    if stretch.written_at is not None:
        # An append reaches the database now, and the app stamps updated_at on every write:
        # a run whose simulated stamp is earlier was still written after any earlier build.
        runs = [run._replace(updated_at=max(run.updated_at, stretch.written_at)) for run in runs]
    events.sort(key=attrgetter("created_at"))
    return StretchRows(events, runs, late)


def agents_of(people: tuple[Person, ...], agents: dict[str, list[str]]) -> dict[str, list[str]]:
    """The agents of these people's workspaces: what a worker needs, not the whole world."""
    return {space: agents[space] for someone in people for space in someone.workspaces}


def person_events(
    someone: Person, world: World, seed: int, start: datetime, end: datetime, runs: list[AgentRun],
    only_day: datetime | None = None,
) -> Iterator[Event]:
    """Sessions that begin in [start, end), or only those that begin on only_day. Each day
    draws from a stream of its own, so simulating one day gives what the whole stretch would."""
    day = datetime(start.year, start.month, start.day, tzinfo=UTC)
    while day < end:
        if only_day is not None and day != only_day:
            day += timedelta(days=1)
            continue
        rng = _stream(seed, someone.user_id, day.date())
        rate = someone.engagement * world.activity * (0.35 if day.weekday() >= 5 else 1.0)
        sessions = int(rate) + (rng.random() < rate - int(rate))
        for _ in range(sessions):
            hour = _weighted_hour(rng)
            begins = day + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
            # Draw the whole session either way, so a day split across appends stays the same.
            session_runs: list[AgentRun] = []
            events = list(_session(rng, someone, world, begins, session_runs, until=end))
            if start <= begins < end and begins >= someone.created_at:
                for event in events:
                    if event.created_at < end:
                        yield event
                runs.extend(run for run in session_runs if run.started_at < end)
        day += timedelta(days=1)


def late_events(
    someone: Person, world: World, seed: int, late_from: datetime, start: datetime, end: datetime,
    runs: list[AgentRun],
) -> Iterator[Event]:
    """Sessions that happened in the past 70 hours but reach the server only now."""
    rng = _stream(seed, "late", someone.user_id, start.isoformat())
    if rng.random() > LATE_SESSION_RATE * someone.engagement * world.activity * ((end - start) / timedelta(days=1)):
        return
    begins = late_from + (start - late_from) * rng.random()
    if begins < someone.created_at:
        return
    session_runs: list[AgentRun] = []
    yield from (
        event for event in _session(rng, someone, world, begins, session_runs, until=end) if event.created_at < start
    )
    # The app writes these runs only now, and updated_at is stamped on every write.
    runs.extend(run._replace(updated_at=max(run.updated_at, start)) for run in session_runs if run.started_at < start)


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
    rng: random.Random, someone: Person, world: World, at: datetime, runs: list[AgentRun], until: datetime
) -> Iterator[Event]:
    spaces = someone.workspaces
    workspace_id = spaces[0] if rng.random() < 0.7 else rng.choice(spaces)
    session_id = uuid4_text(rng)
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
            metadata = json.dumps({
                # one call in a thousand reports its time as text: staging must not break on it
                "response_time_ms": response if rng.random() > 0.001 else f"{response}ms",
                "endpoint": rng.choice(ENDPOINTS),
                "status_code": rng.choices((200, 201, 400, 429, 500), (80, 8, 6, 3, 3))[0],
            })
        elif event_type == "error":
            error_type = rng.choice(CLIENT_ERRORS)
            metadata = json.dumps({"error_type": error_type, "message": f"{error_type or 'unclassified'} error"})
        elif event_type == "feature_use":
            name = rng.choice(FEATURES)
            metadata = json.dumps({"feature": name})
        elif event_type in ("export", "report_view"):
            metadata = json.dumps({"report": rng.choice(("usage", "costs", "quality"))})
        elif event_type == "agent_run":
            run = agent_run(rng, world, someone.user_id, workspace_id, at, until)
            runs.append(run)
            metadata = json.dumps({"agent_id": run.agent_id, "run_id": run.id})
        yield Event(
            uuid4_text(rng), someone.user_id, event_workspace, event_type, name, page, event_session,
            someone.ip, someone.user_agent, referrer, metadata, at,
        )


def agent_run(
    rng: random.Random, world: World, user_id: str, workspace_id: str, started_at: datetime, until: datetime,
) -> AgentRun:
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
    run_id = uuid4_text(rng)
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
    return AgentRun(
        run_id, agent_id, workspace_id, user_id, status, started_at, completed_at, runtime_value, credits,
        model, tokens, error_type, error_message, rating, feedback, updated_at,
    )
