"""Deterministic, realistic data for the stand-in app and analytics.user_activity."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from agent_analytics.bootstrap import RefusedRealApp, is_standin_app


@dataclass(frozen=True)
class Scale:
    workspaces: int
    users: int
    days: int


SCALES: dict[str, Scale] = {
    "tiny": Scale(workspaces=3, users=20, days=7),
    "small": Scale(workspaces=20, users=500, days=30),
    "medium": Scale(workspaces=200, users=10_000, days=90),
    "large": Scale(workspaces=1_000, users=50_000, days=90),
}

PLANS = (("free", 0.6), ("pro", 0.3), ("enterprise", 0.1))
# (model, credits per second of runtime, tokens per second)
MODELS = (("gpt-4o", 0.020, 60), ("gpt-4o-mini", 0.004, 90), ("claude-sonnet", 0.018, 55), ("llama-3-70b", 0.006, 70))
ERRORS = {
    "timeout": ("Run exceeded 300 s", "Tool call timed out"),
    "rate_limit": ("Model rate limit reached", "429 from provider"),
    "tool_error": ("Search tool returned 500", "Invalid tool arguments"),
    "": ("Unexpected failure",),
}
PAGES = ("/dashboard", "/agents", "/agents/new", "/runs", "/reports", "/settings", "/billing", "/docs")
REFERRERS = (None, None, "https://www.google.com/", "https://news.ycombinator.com/", "https://github.com/")
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/127.0",
    "agent-analytics-sdk/1.4 python",
)
# After the first event of a session: (event_type, weight)
NEXT_EVENTS = (
    ("page_view", 50), ("feature_use", 14), ("api_call", 14), ("agent_run", 10), ("error", 3),
    ("report_view", 4), ("export", 2), ("workspace_switch", 3),
)
FEATURES = ("prompt_editor", "tool_builder", "scheduler", "sharing", "templates")
ENDPOINTS = ("/v1/agents", "/v1/runs", "/v1/reports", "/v1/search")
# UTC hour weights: a working-day curve peaking in the afternoon.
HOUR_WEIGHTS = tuple(0.3 + math.exp(-((hour - 14.5) ** 2) / 18) for hour in range(24))

EVENT_COLUMNS = (
    "id", "user_id", "workspace_id", "event_type", "event_name", "page_path", "session_id",
    "ip_address", "user_agent", "referrer", "metadata", "created_at",
)
RUN_COLUMNS = (
    "id", "agent_id", "workspace_id", "user_id", "status", "started_at", "completed_at", "runtime_seconds",
    "credits_consumed", "model", "tokens_used", "error_type", "error_message", "user_rating", "feedback",
    "updated_at",
)


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


@dataclass
class _World:
    workspaces: list[tuple[uuid.UUID, datetime]]
    users: list[tuple[uuid.UUID, datetime, float]]  # id, created_at, engagement
    memberships: dict[uuid.UUID, list[uuid.UUID]]  # user -> workspaces
    agents: dict[uuid.UUID, list[uuid.UUID]]  # workspace -> agents


Progress = Callable[[str, int], None]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _pareto_size(rng: random.Random, alpha: float, cap: int) -> int:
    return min(cap, int(rng.paretovariate(alpha)))


def generate(conn: psycopg.Connection, options: GenerateOptions, progress: Progress | None = None) -> Counts:
    """Fill the stand-in app and analytics.user_activity; returns what was written."""
    if not is_standin_app(conn) and not options.allow_real_app:
        raise RefusedRealApp(
            "this database has a real app in public: generating would write fake users into it "
            "(use --allow-real-app to insist)"
        )
    report = progress or (lambda _stage, _rows: None)
    rng = random.Random(options.seed)
    counts = Counts()
    with conn.transaction():
        world = _write_app(conn, rng, options, counts, report)
        _ensure_partitions(conn, options)
        _write_activity(conn, rng, options, world, counts, report)
    conn.execute("analyze public.agent_runs, analytics.user_activity")
    return counts


def _write_app(
    conn: psycopg.Connection, rng: random.Random, options: GenerateOptions, counts: Counts, report: Progress
) -> _World:
    scale, start = options.scale, options.start
    workspaces = [(_uuid(rng), start - timedelta(days=rng.uniform(1, 400))) for _ in range(scale.workspaces)]
    with conn.cursor().copy("copy public.workspaces (id, name, plan, created_at) from stdin") as copy:
        for index, (workspace_id, created_at) in enumerate(workspaces):
            plan = rng.choices([p for p, _ in PLANS], [w for _, w in PLANS])[0]
            copy.write_row((workspace_id, f"Workspace {index + 1}", plan, created_at))
    counts.workspaces = len(workspaces)
    report("workspaces", len(workspaces))

    users = []
    for _ in range(scale.users):
        signed_up = start - timedelta(days=rng.uniform(1, 300)) if rng.random() < 0.7 else (
            start + timedelta(seconds=rng.uniform(0, (options.end - start).total_seconds()))
        )
        users.append((_uuid(rng), signed_up, rng.lognormvariate(-1.6, 0.8)))
    with conn.cursor().copy("copy public.users (id, email, full_name, created_at, last_sign_in_at) from stdin") as copy:
        for index, (user_id, created_at, _engagement) in enumerate(users):
            copy.write_row((user_id, f"user{index + 1}@example.com", f"User {index + 1}", created_at, None))
    counts.users = len(users)
    report("users", len(users))

    # Workspace sizes on a long tail: a few big tenants, many small ones.
    weights = [rng.paretovariate(1.2) for _ in workspaces]
    memberships: dict[uuid.UUID, list[uuid.UUID]] = {}
    for user_id, _created, _engagement in users:
        chosen = rng.choices(range(len(workspaces)), weights)[0]
        spaces = [workspaces[chosen][0]]
        if rng.random() < 0.2:
            extra = workspaces[rng.randrange(len(workspaces))][0]
            if extra not in spaces:
                spaces.append(extra)
        memberships[user_id] = spaces
    workspace_created = dict(workspaces)
    with conn.cursor().copy("copy public.workspace_members (workspace_id, user_id, role, joined_at) from stdin") as copy:
        for (user_id, user_created, _engagement) in users:
            for position, workspace_id in enumerate(memberships[user_id]):
                role = "owner" if position == 0 and rng.random() < 0.1 else rng.choice(("admin", "member", "member", "viewer"))
                joined = max(user_created, workspace_created[workspace_id]) + timedelta(minutes=rng.uniform(1, 600))
                copy.write_row((workspace_id, user_id, role, joined))
                counts.memberships += 1
    report("workspace_members", counts.memberships)

    agents: dict[uuid.UUID, list[uuid.UUID]] = {}
    members_of: dict[uuid.UUID, list[uuid.UUID]] = {}
    for user_id, spaces in memberships.items():
        for workspace_id in spaces:
            members_of.setdefault(workspace_id, []).append(user_id)
    with conn.cursor().copy("copy public.agents (id, workspace_id, name, created_by, created_at) from stdin") as copy:
        for workspace_id, created_at in workspaces:
            count = 1 + _pareto_size(rng, 1.5, 40)
            agents[workspace_id] = []
            for index in range(count):
                agent_id = _uuid(rng)
                author = rng.choice(members_of[workspace_id]) if members_of.get(workspace_id) else None
                copy.write_row((agent_id, workspace_id, f"Agent {index + 1}", author, created_at + timedelta(days=1)))
                agents[workspace_id].append(agent_id)
                counts.agents += 1
    report("agents", counts.agents)
    return _World(workspaces=workspaces, users=users, memberships=memberships, agents=agents)


def _ensure_partitions(conn: psycopg.Connection, options: GenerateOptions) -> None:
    conn.execute(
        "select analytics.ensure_user_activity_partitions(%s::date, %s::date)",
        (options.start.date() - timedelta(days=1), options.end.date() + timedelta(days=1)),
    )


def _write_activity(
    conn: psycopg.Connection,
    rng: random.Random,
    options: GenerateOptions,
    world: _World,
    counts: Counts,
    report: Progress,
) -> None:
    runs: list[tuple] = []
    with conn.cursor().copy(
        sql.SQL("copy analytics.user_activity ({}) from stdin").format(
            sql.SQL(", ").join(map(sql.Identifier, EVENT_COLUMNS))
        )
    ) as copy:
        for event in _events(rng, options, world, runs):
            copy.write_row(event)
            counts.events += 1
            if counts.events % 50_000 == 0:
                report("user_activity", counts.events)
    report("user_activity", counts.events)
    with conn.cursor().copy(
        sql.SQL("copy public.agent_runs ({}) from stdin").format(sql.SQL(", ").join(map(sql.Identifier, RUN_COLUMNS)))
    ) as copy:
        for run in runs:
            copy.write_row(run)
    counts.runs = len(runs)
    report("agent_runs", counts.runs)


def _events(rng: random.Random, options: GenerateOptions, world: _World, runs: list[tuple]) -> Iterator[tuple]:
    start, end = options.start, options.end
    first_day = datetime(start.year, start.month, start.day, tzinfo=UTC)
    days = (end - first_day).days + 1
    for user_id, signed_up, engagement in world.users:
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        agent_string = rng.choice(USER_AGENTS)
        for day_index in range(days):
            day = first_day + timedelta(days=day_index)
            weekday_factor = 0.35 if day.weekday() >= 5 else 1.0
            if rng.random() > min(0.95, engagement * weekday_factor):
                continue
            for _ in range(1 + int(rng.random() < 0.3)):
                hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
                session_start = day + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
                if session_start < max(signed_up, start) or session_start > end:
                    continue
                yield from _session(rng, options, world, runs, user_id, session_start, ip, agent_string)


def _session(
    rng: random.Random,
    options: GenerateOptions,
    world: _World,
    runs: list[tuple],
    user_id: uuid.UUID,
    at: datetime,
    ip: str,
    agent_string: str,
) -> Iterator[tuple]:
    spaces = world.memberships[user_id]
    workspace_id: uuid.UUID | None = rng.choice(spaces)
    session_id: uuid.UUID | None = _uuid(rng)
    length = 1 + min(30, int(rng.expovariate(0.25)))
    event_types = [rng.choice(("page_view", "page_view", "login"))] + rng.choices(
        [t for t, _ in NEXT_EVENTS], [w for _, w in NEXT_EVENTS], k=length - 1
    )
    for position, event_type in enumerate(event_types):
        if position:
            at += timedelta(seconds=rng.lognormvariate(3.5, 1.0))
        if at > options.end:
            return
        event_workspace = None if event_type == "login" else workspace_id
        event_session = None if (event_type == "api_call" and rng.random() < 0.3) else session_id
        metadata: dict[str, object] = {}
        page = None
        name = None
        if event_type == "page_view":
            page = rng.choice(PAGES)
        elif event_type == "workspace_switch" and len(spaces) > 1:
            workspace_id = rng.choice([s for s in spaces if s != workspace_id])
            event_workspace = workspace_id
        elif event_type == "api_call":
            metadata = {
                "response_time_ms": round(rng.lognormvariate(5.0, 0.7), 1),
                "endpoint": rng.choice(ENDPOINTS),
                "status_code": rng.choices((200, 201, 400, 429, 500), (80, 8, 6, 3, 3))[0],
            }
        elif event_type == "error":
            error_type = rng.choice(("network", "validation", "render", "", "network"))
            metadata = {"error_type": error_type, "message": f"{error_type or 'unknown'} error"} if error_type else {
                "message": "unclassified"
            }
        elif event_type == "feature_use":
            metadata = {"feature": rng.choice(FEATURES)}
            name = metadata["feature"]
        elif event_type in ("export", "report_view"):
            metadata = {"report": rng.choice(("usage", "costs", "quality"))}
        elif event_type == "agent_run" and event_workspace is not None:
            run = _run(rng, options, world, user_id, event_workspace, at)
            runs.append(run)
            metadata = {"agent_id": str(run[1]), "run_id": str(run[0])}
        yield (
            _uuid(rng), user_id, event_workspace, event_type, name, page, event_session, ip, agent_string,
            rng.choice(REFERRERS) if position == 0 else None, psycopg.types.json.Jsonb(metadata), at,
        )


def _run(
    rng: random.Random, options: GenerateOptions, world: _World, user_id: uuid.UUID, workspace_id: uuid.UUID,
    started_at: datetime,
) -> tuple:
    agents = world.agents[workspace_id]
    # A few agents do most of the work.
    agent_id = agents[min(len(agents) - 1, int(rng.expovariate(0.6)))]
    model, credit_rate, token_rate = rng.choice(MODELS)
    runtime = round(rng.lognormvariate(3.0, 1.0), 3)
    finished_at = started_at + timedelta(seconds=runtime)
    status = rng.choices(("completed", "failed", "cancelled"), (85, 10, 5))[0]
    if finished_at > options.end:
        status = rng.choice(("queued", "running"))
    error_type = error_message = None
    rating = feedback = None
    completed_at: datetime | None = finished_at
    runtime_value: float | None = runtime
    if status in ("queued", "running"):
        completed_at = runtime_value = None
    elif status == "failed":
        error_type = rng.choice(list(ERRORS))
        error_message = rng.choice(ERRORS[error_type])
        error_type = error_type or None
    elif status == "cancelled" and rng.random() < 0.5:
        runtime_value = None
    credits = round(runtime_value * credit_rate, 4) if runtime_value is not None else 0
    tokens = int(runtime_value * token_rate) if runtime_value is not None else 0
    updated_at = completed_at or started_at
    if status == "completed" and rng.random() < 0.15:
        rating = rng.choices((1, 2, 3, 4, 5), (5, 5, 15, 35, 40))[0]
        feedback = "Helpful" if rng.random() < 0.3 else None
        updated_at = min(options.end, updated_at + timedelta(minutes=rng.uniform(1, 600)))
    return (
        _uuid(rng), agent_id, workspace_id, user_id, status, started_at, completed_at, runtime_value, credits,
        model, tokens, error_type, error_message, rating, feedback, updated_at,
    )
