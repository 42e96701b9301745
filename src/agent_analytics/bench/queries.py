"""The dashboard queries (sql/dashboard_queries.sql), timed on both schemas as a member through
RLS and as service_role, over varied workspaces."""

from __future__ import annotations

import contextlib
import random
import re
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources

import psycopg
from psycopg import sql

from agent_analytics import db, postgrest
from agent_analytics.bench.data import RunDatabase
from agent_analytics.bench.live_snapshot import live_snapshot_taken
from agent_analytics.bench.results import DashboardEntry, QueryTiming, ratio, summary
from agent_analytics.progress import Progress

# Our schema and the spec's, under the names the results give them.
SCHEMAS = (("analytics", "ours"), ("naive", "naive"))


@dataclass(frozen=True)
class DashboardQuery:
    name: str
    what: str
    text: str
    member_text: str | None = None
    roles: tuple[str, ...] = ("member", "service")
    ours_text: str | None = None
    # ours answers from the live snapshot while it is fresh (docs/live-metrics.md), which the
    # worker takes every 30 s: under load, the benchmark takes it as the worker would
    live_snapshot: bool = False

    def statement(self, schema: str, role: str) -> sql.Composed:
        text = self.text
        if schema == "analytics":
            text = self.member_text if role == "member" and self.member_text else self.ours_text or self.text
        return sql.SQL(text).format(schema=sql.Identifier(schema))


def load_queries() -> list[DashboardQuery]:
    """The dashboard queries of sql/dashboard_queries.sql, in file order."""
    text = resources.files("agent_analytics").joinpath("sql", "dashboard_queries.sql").read_text(encoding="utf-8")
    queries = []
    for block in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, rest = block.partition("\n")
        headers: dict[str, str] = {}
        body_lines = []
        for line in rest.splitlines():
            header = re.match(r"^-- (what|roles|snapshot): (.*)$", line)
            if header and not body_lines:
                headers[header.group(1)] = header.group(2).strip()
            else:
                body_lines.append(line)
        body, *variants = re.split(r"^-- (ours|member):$", "\n".join(body_lines), flags=re.M)
        texts = dict(zip(variants[::2], (variant.strip().rstrip(";") for variant in variants[1::2]), strict=True))
        queries.append(DashboardQuery(
            name=name.strip(),
            what=headers.get("what", ""),
            text=body.strip().rstrip(";"),
            member_text=texts.get("member") or None,
            roles=tuple(headers.get("roles", "member, service").replace(" ", "").split(",")),
            ours_text=texts.get("ours") or None,
            live_snapshot=headers.get("snapshot") == "live",
        ))
    return queries


def sample_parameters(conn: psycopg.Connection, count: int, seed: int) -> list[dict]:
    """Varied workspaces (uniformly, small and big alike), each with a member seen lately
    (one of its recent sessions is theirs), one of its first agents, and the time windows as
    literal values (up to a day ahead: the furthest a stored event can be), from the server's
    clock, which a measurement may have moved (moved_clock)."""
    rng = random.Random(seed)
    now = db.server_clock(conn)
    members: dict = {}
    for workspace_id, user_id in conn.execute(
        "select workspace_id, user_id from public.workspace_members order by workspace_id, user_id"
    ):
        members.setdefault(workspace_id, []).append(user_id)
    workspaces = sorted(members)
    fallback_session = conn.execute(
        "select session_id, created_at from analytics.user_activity where session_id is not null "
        "order by created_at desc limit 1"
    ).fetchone() or (uuid.uuid4(), now)
    parameters = []
    for _ in range(count):
        workspace_id = rng.choice(workspaces)
        agents = [row[0] for row in conn.execute(
            "select id from public.agents where workspace_id = %s order by created_at, id", (workspace_id,)
        )]
        sessions = [tuple(row) for row in conn.execute(
            "select session_id, created_at, user_id from analytics.user_activity "
            "where workspace_id = %s and session_id is not null and created_at > now() - interval '7 days' "
            "order by created_at desc limit 20",
            (workspace_id,),
        )]
        # The member is one seen lately in the workspace, as the people who open a dashboard are.
        session_id, seen_at, user_id = rng.choice(sessions) if sessions else (
            *fallback_session, rng.choice(members[workspace_id]))
        parameters.append({
            "workspace_id": workspace_id,
            "user_id": user_id,
            "agent_id": rng.choice(agents[:5]) if agents else uuid.uuid4(),
            "session_id": session_id,
            "session_from": seen_at - timedelta(days=1),
            "session_to": seen_at + timedelta(days=1),
            "since_1d": now - timedelta(days=1),
            "since_7d": now - timedelta(days=7),
            "until": now + timedelta(days=1),
        })
    return parameters


def become(conn: psycopg.Connection, role: str, user_id: object) -> None:
    """A request as PostgREST makes it: a member signed in as `user_id`, or the service key."""
    if role == "member":
        postgrest.impersonate(conn, "authenticated", user_id)
    else:
        postgrest.impersonate(conn, "service_role")


def dashboard(
    bench: RunDatabase, queries: list[DashboardQuery], parameters: list[dict], repeat: int, progress: Progress
) -> list[DashboardEntry]:
    results = []
    steps = sum(len(query.roles) * len(SCHEMAS) for query in queries)
    done = 0
    with bench.connect() as conn:
        for query in queries:
            timed: dict[str, dict[str, QueryTiming]] = {"ours": {}, "naive": {}}
            with live_snapshot_taken(bench) if query.live_snapshot else contextlib.nullcontext():
                for role in query.roles:
                    for schema, side in SCHEMAS:
                        timed[side][role] = time_query(conn, query.statement(schema, role), role, parameters, repeat)
                        done += 1
                        progress("dashboard queries", done, steps, done * repeat)
            results.append(DashboardEntry(
                name=query.name, what=query.what, ours=timed["ours"], naive=timed["naive"],
                ratio={role: ratio(timed["ours"][role].timings.p95, timed["naive"][role].timings.p95)
                       for role in query.roles},
            ))
    return results


def time_query(
    conn: psycopg.Connection, statement: sql.Composed, role: str, parameters: list[dict], repeat: int
) -> QueryTiming:
    """`repeat` executions cycling through the parameters, after one untimed pass over them
    all: the run itself (builds, the naive copy of every event) evicts the pages a dashboard
    keeps warm, so without it the first touch of each workspace's pages made the tails. Only
    the query is timed (client round trip included), not the role and claims setup."""
    timings = []
    rows = []
    warm_up = len(parameters)
    for index in range(repeat + warm_up):
        params = parameters[index % len(parameters)]
        try:
            with conn.transaction():
                become(conn, role, params["user_id"])
                started = time.perf_counter()
                fetched = conn.execute(statement, params).fetchall()
                elapsed = time.perf_counter() - started
        except psycopg.errors.ObjectNotInPrerequisiteState as error:
            return QueryTiming(timings=summary([], unit="ms"), unavailable=str(error).strip().splitlines()[0])
        if index >= warm_up:
            timings.append(elapsed)
            rows.append(len(fetched))
    return QueryTiming(timings=summary(timings, unit="ms"), rows_median=statistics.median(rows),
                       empty_results=sum(1 for count in rows if count == 0))
