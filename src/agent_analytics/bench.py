"""`agent-analytics bench`: dashboard queries, builds, refreshes, storage and ingestion, ours
beside the spec's naive SQL on the same data, in a database of the benchmark's own.

The data comes from the generator. With --keep the generated database is kept (never built)
and the next run at the same scale clones it instead of generating again.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from agent_analytics import bootstrap, cluster, db, dbt, generate, naive, postgrest
from agent_analytics.errors import AgentAnalyticsError
from agent_analytics.progress import Progress

OUR_VIEWS = ("mv_active_users", "mv_top_agents", "mv_workspace_summary")
MEASURED_SCHEMAS = ("analytics", "analytics_internal", "naive", "public")
# A sequential scan of a relation with at least this many rows reads a whole table.
WHOLE_TABLE_ROWS = 10_000
# Reusing kept data is only right while "now" is close to where the data was meant to end.
REUSE_WITHIN = timedelta(hours=24)
STATE_PREFIX = "agent-analytics bench data: "


class BenchError(AgentAnalyticsError):
    """The benchmark cannot run as asked; the message says why."""


@dataclass(frozen=True)
class BenchOptions:
    scale_name: str
    output: Path
    seed: int = 42
    repeat: int = 50  # executions of each dashboard query, per role and schema
    hourly_builds: int = 3  # --append 1h then an incremental build, this many times
    daily_builds: int = 1  # --append 1d then an incremental build
    refresh_repeat: int = 3
    keep: bool = False
    naive_limit: float = 600.0  # seconds any one statement of the naive baseline may run
    days: int | None = None  # days of history; None: the scale's

    @property
    def scale(self) -> generate.Scale:
        return generate.SCALES[self.scale_name]

    @property
    def label(self) -> str:
        """The scale, and the days of history when they are not the scale's: names the data and the results."""
        if self.days is None or self.days == self.scale.days:
            return self.scale_name
        return f"{self.scale_name}-{self.days}d"

    @property
    def history_days(self) -> int:
        return self.days or self.scale.days

    @property
    def appended(self) -> timedelta:
        return timedelta(hours=self.hourly_builds, days=self.daily_builds)


@dataclass(frozen=True)
class DashboardQuery:
    name: str
    what: str
    text: str
    member_text: str | None = None
    roles: tuple[str, ...] = ("member", "service")

    def statement(self, schema: str, role: str) -> sql.Composed:
        text = self.member_text if role == "member" and schema == "analytics" and self.member_text else self.text
        return sql.SQL(text).format(schema=sql.Identifier(schema))


@dataclass
class Run:
    """The databases of one benchmark run and where dbt writes its artifacts."""

    admin: db.Connection
    target: db.Connection
    data_name: str
    clone: bool
    target_path: Path
    results: dict = field(default_factory=dict)
    index_scans_before: dict[str, int] = field(default_factory=dict)

    def connect(self) -> psycopg.Connection:
        return db.connect(self.target)


def load_queries() -> list[DashboardQuery]:
    """The dashboard queries of sql/dashboard_queries.sql, in file order."""
    text = resources.files("agent_analytics").joinpath("sql", "dashboard_queries.sql").read_text(encoding="utf-8")
    queries = []
    for block in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, rest = block.partition("\n")
        headers: dict[str, str] = {}
        body_lines = []
        for line in rest.splitlines():
            header = re.match(r"^-- (what|roles): (.*)$", line)
            if header and not body_lines:
                headers[header.group(1)] = header.group(2).strip()
            else:
                body_lines.append(line)
        body, _, member = "\n".join(body_lines).partition("-- member:")
        queries.append(DashboardQuery(
            name=name.strip(),
            what=headers.get("what", ""),
            text=body.strip().rstrip(";"),
            member_text=member.strip().rstrip(";") or None,
            roles=tuple(headers.get("roles", "member, service").replace(" ", "").split(",")),
        ))
    return queries


def run(server: db.Server, options: BenchOptions, progress: Progress) -> dict:
    """The whole benchmark; returns the results (also written to options.output)."""
    if options.hourly_builds < 1 or options.daily_builds < 1 or options.repeat < 1 or options.refresh_repeat < 1:
        raise BenchError("--builds, --repeat and --refresh-repeat must be at least 1")
    started = time.monotonic()
    with _bench_run(server, options, progress) as bench:
        bench.results["machine"] = _machine(bench)
        bench.results["builds"] = _builds(bench, options, progress)
        bench.results["aggregation"] = {"ours": _our_aggregation(bench, progress)}
        bench.results["refresh"] = {"ours": _our_refreshes(bench, options, progress)}
        _seed_alerts(bench)
        bench.results["naive"] = _naive_baseline(bench, options, progress)
        queries = load_queries()
        with bench.connect() as conn:
            parameters = sample_parameters(conn, max(options.repeat, 50), options.seed)
        bench.results["dashboard"] = _dashboard(bench, queries, parameters, options, progress)
        bench.results["explain"] = _explain_all(bench, queries, parameters[0], progress)
        bench.results["indexes"] = _index_report(bench)
        bench.results["storage"] = _storage(bench)
        bench.results["ingestion"] = _ingestion(bench, options, progress)
        bench.results["retention"] = _retention(bench)
        bench.results["seconds"] = round(time.monotonic() - started, 1)
        return bench.results


# -- databases ----------------------------------------------------------------------------

@contextmanager
def _bench_run(server: db.Server, options: BenchOptions, progress: Progress) -> Iterator[Run]:
    """The data database (generated or reused), the run's database (a clone when the data is
    kept), and the cleanup afterwards, whatever happens."""
    admin = server.admin
    data_name = f"aa_bench_{options.label.replace('-', '_')}"
    run_name = f"{data_name}_run_{os.getpid()}"
    data = _prepare_data(server, data_name, options, progress)
    clone = options.keep
    if clone:
        _clone_database(admin, data_name, run_name)
        progress("copy of the kept data", 1, 1, 0)
    target = server.project.with_database(run_name if clone else data_name)
    try:
        with tempfile.TemporaryDirectory(prefix="aa-bench-dbt-") as target_path:
            yield Run(admin, target, data_name, clone, Path(target_path), {
                "scale": options.scale_name,
                "label": options.label,
                "seed": options.seed,
                "build_command": list(dbt.SCHEDULED_BUILD),
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "options": {"repeat": options.repeat, "hourly_builds": options.hourly_builds,
                            "daily_builds": options.daily_builds, "refresh_repeat": options.refresh_repeat,
                            "naive_limit_s": options.naive_limit},
                "data": data,
            })
    finally:
        if clone:
            db.drop_database(admin, run_name)
        elif not options.keep:
            db.drop_database(admin, data_name)


def _prepare_data(server: db.Server, name: str, options: BenchOptions, progress: Progress) -> dict:
    """Generated data ending where the appends will bring it to now; kept data when it fits."""
    admin = server.admin
    state = _kept_state(admin, name)
    # Two days more than the history, so that the retention has whole days to drop.
    wanted = {"scale": options.scale_name, "seed": options.seed, "appended_hours": options.appended / timedelta(hours=1),
              "days": options.history_days + 2}
    if state and all(state.get(key) == value for key, value in wanted.items()):
        planned_end = datetime.fromisoformat(state["data_end"]) + options.appended
        if abs(datetime.now(UTC) - planned_end) <= REUSE_WITHIN:
            progress("kept data reused", 1, 1, state["events"])
            return {**state, "reused": True}
    db.drop_database(admin, name)
    made = cluster.create_supabase_database(server, name)
    bootstrap.prepare_demo_database(made)
    end = datetime.now(UTC).replace(microsecond=0) - options.appended
    generate_options = generate.GenerateOptions(
        scale=options.scale, seed=options.seed, end=end, days=wanted["days"],
    )
    started = time.monotonic()
    with db.connect(made.admin) as conn:
        counts = generate.generate(conn, generate_options, progress)
    state = {
        **wanted,
        "days": generate_options.days,
        "data_start": generate_options.start.isoformat(timespec="seconds"),
        "data_end": end.isoformat(timespec="seconds"),
        "workspaces": counts.workspaces, "users": counts.users, "memberships": counts.memberships,
        "agents": counts.agents, "runs": counts.runs, "events": counts.events,
        "generated_seconds": round(time.monotonic() - started, 1),
    }
    with db.connect(admin) as conn:
        db.write_note(conn, "database", name, STATE_PREFIX, state)
    return {**state, "reused": False}


def _kept_state(admin: db.Connection, name: str) -> dict | None:
    with db.connect(admin) as conn:
        return db.read_note(conn, "database", name, STATE_PREFIX)


def _clone_database(admin: db.Connection, source: str, name: str) -> None:
    """A file copy of the kept database. Autovacuum may still be in it for a moment."""
    db.drop_database(admin, name)
    statement = sql.SQL("create database {} template {} strategy file_copy").format(
        sql.Identifier(name), sql.Identifier(source)
    )
    for attempt in range(30):
        try:
            with db.connect(admin) as conn:
                conn.execute(statement)
            return
        except psycopg.errors.ObjectInUse:
            if attempt == 29:
                raise BenchError(f"database {source} stays in use by another session; cannot copy it") from None
            time.sleep(1)


def _machine(bench: Run) -> dict:
    with bench.connect() as conn:
        version = conn.execute("select version()").fetchone()[0]
        settings = dict(conn.execute(
            "select name, current_setting(name) from pg_settings where name = any(%s)",
            (["shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size", "jit",
              "max_parallel_workers_per_gather", "random_page_cost", "synchronous_commit", "max_wal_size"],),
        ).fetchall())
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_bytes() / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgres": version,
        "server": bench.target.describe(),
        "settings": settings,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


# -- builds -------------------------------------------------------------------------------

def _builds(bench: Run, options: BenchOptions, progress: Progress) -> dict:
    """A build from nothing, one with nothing new, then builds after appended hours and days."""
    builds: dict = {}
    steps = 2 + options.hourly_builds + options.daily_builds
    progress("dbt builds", 0, steps, 0)
    bench.index_scans_before = _index_scans(bench)
    builds["full"] = _timed_build(bench)
    progress("dbt builds", 1, steps, 1)
    builds["no_change"] = _timed_build(bench)
    progress("dbt builds", 2, steps, 2)
    done = 2
    for label, duration, count in (("append_1h", timedelta(hours=1), options.hourly_builds),
                                   ("append_1d", timedelta(days=1), options.daily_builds)):
        builds[label] = []
        for _ in range(count):
            with bench.connect() as conn:
                started = time.monotonic()
                appended = generate.append(conn, duration)
                generated = time.monotonic() - started
            build = _timed_build(bench)
            build["appended"] = {"events": appended.events, "late_events": appended.late_events,
                                 "runs": appended.runs, "runs_updated": appended.runs_updated,
                                 "seconds": round(generated, 2)}
            builds[label].append(build)
            done += 1
            progress("dbt builds", done, steps, done)
    with bench.connect() as conn:
        bench.results["data"]["data_end_after_appends"] = conn.execute(
            "select max(created_at) from analytics.user_activity"
        ).fetchone()[0].isoformat(timespec="seconds")
    return builds


def _timed_build(bench: Run) -> dict:
    """`dbt build` end to end, dbt's own start-up included, and its slowest nodes."""
    started = time.perf_counter()
    dbt.run_dbt([*dbt.SCHEDULED_BUILD, "--target-path", str(bench.target_path)], bench.target, capture=True)
    seconds = time.perf_counter() - started
    results = json.loads((bench.target_path / "run_results.json").read_text())
    slowest = sorted(results["results"], key=lambda node: node["execution_time"], reverse=True)[:8]
    return {
        "seconds": round(seconds, 2),
        "dbt_elapsed": round(results["elapsed_time"], 2),
        "nodes": len(results["results"]),
        "slowest": [{"node": node["unique_id"].split(".", 2)[-1], "seconds": round(node["execution_time"], 2)}
                    for node in slowest],
    }


# -- aggregation and refreshes ------------------------------------------------------------

def _recent_days(bench: Run, count: int = 7) -> list[date]:
    """The last complete UTC days of the data."""
    with bench.connect() as conn:
        last = conn.execute("select (max(created_at) at time zone 'UTC')::date - 1 from analytics.user_activity").fetchone()[0]
    return [last - timedelta(days=offset) for offset in range(count)]


def _our_aggregation(bench: Run, progress: Progress) -> dict:
    """analytics.aggregate_daily_metrics(day), as service_role calls it, for the last days."""
    timings = []
    days = _recent_days(bench)
    with bench.connect() as conn:
        for index, day in enumerate(days, start=1):
            timings.append(db.timed(conn, sql.SQL("select analytics.aggregate_daily_metrics(%s)"), (day,), role="service_role"))
            progress("one day's aggregation", index, len(days), index)
    return {"days": [day.isoformat() for day in days], **summary(timings),
            "computes": "all 23 figures of every workspace with activity that day and the platform row"}


def _our_refreshes(bench: Run, options: BenchOptions, progress: Progress) -> dict:
    with bench.connect() as conn:
        owner = conn.execute(
            "select pg_get_userbyid(relowner) from pg_class where oid = 'analytics.mv_active_users'::regclass"
        ).fetchone()[0]
    return _refreshes(bench, "analytics", owner, "service_role", options.refresh_repeat, progress)


def _refreshes(
    bench: Run, schema: str, owner: str | None, caller: str | None, repeat: int, progress: Progress,
    limit: float | None = None, views: tuple[str, ...] = OUR_VIEWS,
) -> dict:
    """Each view refreshed on its own (as its owner, the only role allowed), then all of them
    through the schema's refresh_all_materialized_views() (as `caller`). A view missing from
    `views` is not populated and cannot be refreshed concurrently; one that runs past `limit`
    seconds is not tried again."""
    timings: dict[str, list[float]] = {name: [] for name in (*OUR_VIEWS, "all")}
    timed_out: set[str] = set()
    every_view = set(OUR_VIEWS) <= set(views)
    steps = repeat * (len(OUR_VIEWS) + 1)
    done = 0
    with bench.connect() as conn:
        for _ in range(repeat):
            for view in OUR_VIEWS:
                if view in views and view not in timed_out:
                    statement = sql.SQL("refresh materialized view concurrently {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(view)
                    )
                    _record(timings[view], timed_out, view, db.timed(conn, statement, role=owner, limit=limit))
                done += 1
                progress(f"{schema}: view refreshes", done, steps, done)
            if every_view and "all" not in timed_out:
                statement = sql.SQL("select {}.refresh_all_materialized_views()").format(sql.Identifier(schema))
                _record(timings["all"], timed_out, "all", db.timed(conn, statement, role=caller, limit=limit))
            done += 1
            progress(f"{schema}: view refreshes", done, steps, done)
    results = {}
    for name, values in timings.items():
        if name in timed_out:
            results[name] = {**summary(values), "timed_out_after_s": limit}
        elif (name == "all" and not every_view) or (name != "all" and name not in views):
            results[name] = {"n": 0, "unavailable": "not populated: its first fill ran past the time limit"}
        else:
            results[name] = summary(values)
    return results


def _record(timings: list[float], timed_out: set[str], name: str, seconds: float | None) -> None:
    if seconds is None:
        timed_out.add(name)
    else:
        timings.append(seconds)


def _seed_alerts(bench: Run) -> None:
    text = resources.files("agent_analytics").joinpath("sql", "bench_alerts.sql").read_text(encoding="utf-8")
    with bench.connect() as conn, conn.transaction():
        conn.execute(text)
    with bench.connect() as conn:
        conn.execute("analyze analytics.alert_rules")
        conn.execute("analyze analytics.alert_history")


def _naive_baseline(bench: Run, options: BenchOptions, progress: Progress) -> dict:
    """The spec's SQL in schema naive: its daily job for every day, its views and refresh."""
    with bench.connect() as conn:
        started = time.monotonic()
        naive.install(conn, progress)
        loaded = time.monotonic() - started
        first, last = conn.execute(
            "select (min(created_at) at time zone 'UTC')::date, (max(created_at) at time zone 'UTC')::date "
            "from analytics.user_activity"
        ).fetchone()
        daily = naive.aggregate_days(conn, first, last, progress)
        copied = naive.copy_unfilled_tables(conn)
        filled = naive.fill_views(conn, options.naive_limit, progress)
    recent = set(_recent_days(bench))
    bench.results["aggregation"]["naive"] = {
        "days": [day.isoformat() for day, _ in daily if day in recent],
        **summary([seconds for day, seconds in daily if day in recent]),
        "all_days": summary([seconds for _, seconds in daily]),
        "computes": "9 of the 30 columns, for workspaces with runs that day (active_users is total_users, S4a)",
    }
    populated = tuple(view for view, seconds in filled.items() if seconds is not None)
    bench.results["refresh"]["naive"] = _refreshes(
        bench, "naive", None, None, options.refresh_repeat, progress, limit=options.naive_limit, views=populated
    )
    return {
        "load_seconds": round(loaded, 1),
        "copied_from_ours": copied,
        "time_limit_s": options.naive_limit,
        "first_fill_s": {view: None if seconds is None else round(seconds, 3) for view, seconds in filled.items()},
    }


# -- dashboard queries --------------------------------------------------------------------

def sample_parameters(conn: psycopg.Connection, count: int, seed: int) -> list[dict]:
    """Varied workspaces (uniformly, small and big alike), each with a member seen lately
    (one of its recent sessions is theirs), one of its first agents, and the time windows as
    literal values."""
    rng = random.Random(seed)
    members: dict = {}
    for workspace_id, user_id in conn.execute(
        "select workspace_id, user_id from public.workspace_members order by workspace_id, user_id"
    ):
        members.setdefault(workspace_id, []).append(user_id)
    workspaces = sorted(members)
    fallback_session = conn.execute(
        "select session_id, created_at from analytics.user_activity where session_id is not null "
        "order by created_at desc limit 1"
    ).fetchone() or (uuid.uuid4(), datetime.now(UTC))
    now = datetime.now(UTC)
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
        })
    return parameters


def become(conn: psycopg.Connection, role: str, user_id) -> None:
    """A request as PostgREST makes it: a member signed in as `user_id`, or the service key."""
    if role == "member":
        postgrest.impersonate(conn, "authenticated", user_id)
    else:
        postgrest.impersonate(conn, "service_role")


def _dashboard(
    bench: Run, queries: list[DashboardQuery], parameters: list[dict], options: BenchOptions, progress: Progress
) -> list[dict]:
    results = []
    steps = sum(len(query.roles) * 2 for query in queries)
    done = 0
    with bench.connect() as conn:
        for query in queries:
            entry: dict = {"name": query.name, "what": query.what, "ours": {}, "naive": {}}
            for role in query.roles:
                for schema, side in (("analytics", "ours"), ("naive", "naive")):
                    entry[side][role] = _time_query(conn, query.statement(schema, role), role, parameters,
                                                    options.repeat)
                    done += 1
                    progress("dashboard queries", done, steps, done * options.repeat)
                entry.setdefault("ratio", {})[role] = _ratio(entry["ours"][role].get("p95_ms"),
                                                             entry["naive"][role].get("p95_ms"))
            results.append(entry)
    return results


def _time_query(
    conn: psycopg.Connection, statement: sql.Composed, role: str, parameters: list[dict], repeat: int
) -> dict:
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
            return {"n": 0, "unavailable": str(error).strip().splitlines()[0]}
        if index >= warm_up:
            timings.append(elapsed)
            rows.append(len(fetched))
    stats = summary(timings, unit="ms")
    return {**stats, "rows_median": statistics.median(rows), "empty_results": sum(1 for count in rows if count == 0)}


def _explain_all(bench: Run, queries: list[DashboardQuery], params: dict, progress: Progress) -> list[dict]:
    """EXPLAIN (ANALYZE, BUFFERS) of every dashboard query, flagging scans of whole tables."""
    with bench.connect() as conn:
        sizes = {
            (schema, name): rows for schema, name, rows in conn.execute(
                "select n.nspname, c.relname, c.reltuples from pg_class as c "
                "join pg_namespace as n on n.oid = c.relnamespace where n.nspname = any(%s)",
                (list(MEASURED_SCHEMAS),),
            )
        }
        explained = []
        total = sum(len(query.roles) * 2 for query in queries)
        for query in queries:
            for role in query.roles:
                for schema in ("analytics", "naive"):
                    try:
                        with conn.transaction():
                            become(conn, role, params["user_id"])
                            cursor = psycopg.ClientCursor(conn)
                            cursor.execute(
                                sql.SQL("explain (analyze, buffers, verbose, format json) ")
                                + query.statement(schema, role),
                                params,
                            )
                            plan = cursor.fetchone()[0][0]
                    except psycopg.errors.ObjectNotInPrerequisiteState:
                        continue
                    explained.append({"query": query.name, "role": role, "schema": schema,
                                      **plan_summary(plan, sizes)})
                    progress("query plans", len(explained), total, len(explained))
    return explained


def plan_summary(plan: dict, sizes: dict[tuple[str, str], float]) -> dict:
    """The scans of a JSON plan, with a flag on sequential scans of big relations."""
    scans = []

    def walk(node: dict) -> None:
        if "Relation Name" in node:
            key = (node.get("Schema", ""), node["Relation Name"])
            whole = node["Node Type"] == "Seq Scan" and sizes.get(key, 0) >= WHOLE_TABLE_ROWS
            scans.append({
                "node": node["Node Type"],
                "relation": ".".join(part for part in key if part),
                "index": node.get("Index Name"),
                "rows": node.get("Actual Rows", 0) * node.get("Actual Loops", 1),
                "whole_table": whole,
            })
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    top = plan["Plan"]
    return {
        "planning_ms": round(plan.get("Planning Time", 0.0), 3),
        "execution_ms": round(plan.get("Execution Time", 0.0), 3),
        "shared_hit": top.get("Shared Hit Blocks", 0),
        "shared_read": top.get("Shared Read Blocks", 0),
        "scans": scans,
        "whole_table_scans": [scan["relation"] for scan in scans if scan["whole_table"]],
    }


# -- indexes ------------------------------------------------------------------------------

def _index_scans(bench: Run) -> dict[str, int]:
    """Scans per index, partitions' indexes counted under their partitioned index."""
    with bench.connect() as conn:
        rows = conn.execute(
            """
            select coalesce(pg_partition_root(s.indexrelid), s.indexrelid)::regclass::text, sum(s.idx_scan)
            from pg_stat_user_indexes as s
            where s.schemaname = any(%s)
            group by 1
            """,
            (list(MEASURED_SCHEMAS),),
        ).fetchall()
    return {name: int(scans) for name, scans in rows}


def _index_report(bench: Run) -> dict:
    """Indexes that nothing in this run used (builds, functions and dashboard queries), and
    btree indexes whose columns lead another index on the same table."""
    before = bench.index_scans_before
    with bench.connect() as conn:
        # Backends report their counters when they finish; the query sessions have.
        conn.execute("select pg_stat_clear_snapshot()")
        indexes = conn.execute(
            """
            select i.indexrelid::regclass::text, i.indrelid::regclass::text, am.amname, i.indisunique,
                   i.indisprimary, pg_get_indexdef(i.indexrelid),
                   coalesce(pg_get_expr(i.indpred, i.indrelid), ''), i.indexprs is not null,
                   array(select a.attname::text from unnest(i.indkey[0:i.indnkeyatts - 1]) with ordinality as k(attnum, n)
                         join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum order by k.n),
                   array(select (o & 1)::int from unnest(i.indoption::int2[]) with ordinality as k(o, n) order by k.n),
                   coalesce((select sum(pg_relation_size(t.relid)) from pg_partition_tree(i.indexrelid) as t),
                            pg_relation_size(i.indexrelid))
            from pg_index as i
            join pg_class as c on c.oid = i.indexrelid
            join pg_namespace as n on n.oid = c.relnamespace
            join pg_am as am on am.oid = c.relam
            where n.nspname = any(%s) and not c.relispartition
            order by 1
            """,
            (["analytics", "analytics_internal", "naive"],),
        ).fetchall()
    after = _index_scans(bench)
    unused, covered = [], []
    for name, table, method, unique, primary, definition, predicate, expressions, columns, descending, size in indexes:
        scans = after.get(name, 0) - before.get(name, 0)
        if scans == 0:
            unused.append({"index": name, "table": table, "bytes": int(size), "definition": definition,
                           "enforces": "primary key" if primary else "unique" if unique else None})
        if method != "btree" or unique or expressions:
            continue
        for other in indexes:
            o_name, o_table, o_method, *_, o_predicate, o_expressions, o_columns, o_descending, _ = other
            if o_name == name or o_table != table or o_method != "btree" or o_expressions or o_predicate != predicate:
                continue
            width = len(columns)
            if len(o_columns) >= width and o_columns[:width] == columns:
                same = descending == o_descending[:width]
                flipped = [1 - d for d in descending] == o_descending[:width]
                if same or flipped:
                    covered.append({"index": name, "covered_by": o_name, "table": table, "bytes": int(size)})
                    break
    return {"unused": unused, "covered": covered}


# -- storage ------------------------------------------------------------------------------

def _storage(bench: Run) -> dict:
    """Bytes of every table and view, indexes included, and what they come to per event,
    per run and per workspace-month; how many events a month one workspace can have before
    its share reaches 1 GB."""
    with bench.connect() as conn:
        rows = conn.execute(
            """
            select n.nspname, c.relname, c.relkind, c.relispopulated,
                   case when c.relkind = 'p'
                        then (select coalesce(sum(pg_table_size(t.relid)), 0) from pg_partition_tree(c.oid) as t)
                        else pg_table_size(c.oid) end,
                   case when c.relkind = 'p'
                        then (select coalesce(sum(pg_indexes_size(t.relid)), 0) from pg_partition_tree(c.oid) as t)
                        else pg_indexes_size(c.oid) end
            from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
            where n.nspname = any(%s) and c.relkind in ('r', 'p', 'm') and not c.relispartition
            order by 1, 2
            """,
            (list(MEASURED_SCHEMAS),),
        ).fetchall()
        tables = []
        for schema, name, kind, populated, table_bytes, index_bytes in rows:
            # A naive view that never filled within the time limit holds nothing to count.
            count = conn.execute(
                sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            ).fetchone()[0] if populated else 0
            tables.append({"schema": schema, "table": name, "kind": kind, "rows": count, "populated": populated,
                           "table_bytes": int(table_bytes), "index_bytes": int(index_bytes),
                           "bytes_per_row": round((table_bytes + index_bytes) / count, 1) if count else None})
    data = bench.results["data"]
    months = (datetime.fromisoformat(data["data_end_after_appends"])
              - datetime.fromisoformat(data["data_start"])) / timedelta(days=30.44)

    def footprint(schemas: tuple[str, ...]) -> dict:
        mine = [t for t in tables if t["schema"] in schemas]
        total = sum(t["table_bytes"] + t["index_bytes"] for t in mine)
        events = next(t for t in mine if t["table"] == "user_activity")
        event_bytes = events["table_bytes"] + events["index_bytes"]
        per_event = total / events["rows"]
        return {
            "schemas": list(schemas),
            "total_bytes": total,
            "event_table_bytes": event_bytes,
            "bytes_per_event": round(event_bytes / events["rows"], 1),
            "bytes_per_event_all_tables": round(per_event, 1),
            "bytes_per_workspace_month": round(total / (data["workspaces"] * months)),
            "events_per_workspace_month_for_1gb": int(2**30 / per_event),
        }

    runs = next(t for t in tables if t["schema"] == "public" and t["table"] == "agent_runs")
    return {
        "months_of_data": round(months, 2),
        "tables": tables,
        "ours": footprint(("analytics", "analytics_internal")),
        "naive": footprint(("naive",)),
        "bytes_per_run": round((runs["table_bytes"] + runs["index_bytes"]) / runs["rows"], 1),
    }


# -- ingestion and retention --------------------------------------------------------------

def _ingestion(bench: Run, options: BenchOptions, progress: Progress) -> dict:
    """Events per second through track_event (a member, as PostgREST calls it), single-row
    and batched INSERTs as service_role, and COPY; ours and naive, rows of one shape."""
    single = 200 if options.scale_name == "tiny" else 2_000
    bulk = 5_000 if options.scale_name == "tiny" else 100_000
    with bench.connect() as conn:
        members = conn.execute(
            "select m.workspace_id, m.user_id from public.workspace_members as m order by m.workspace_id, m.user_id"
        ).fetchall()
    rng = random.Random(options.seed)
    results: dict = {"ours": {}, "naive": {}}

    def events(count: int) -> list[tuple]:
        now = datetime.now(UTC)
        made = []
        for _ in range(count):
            workspace_id, user_id = rng.choice(members)
            made.append((uuid.UUID(int=rng.getrandbits(128), version=4), user_id, workspace_id, "feature_use",
                         "scheduler", "/agents", uuid.UUID(int=rng.getrandbits(128), version=4),
                         '{"feature": "scheduler"}', now - timedelta(seconds=rng.uniform(0, 600))))
        return made

    columns = ("id", "user_id", "workspace_id", "event_type", "event_name", "page_path", "session_id",
               "metadata", "created_at")
    ways = [("track_event", "analytics", single, "track_event")] + [
        (label, schema, count, label)
        for label, count in (("insert_single", single), ("insert_batched_1000", bulk), ("copy", bulk))
        for schema in ("analytics", "naive")
    ]
    with bench.connect() as conn:
        for done, (label, schema, count, method) in enumerate(ways, start=1):
            seconds = _write_events(conn, schema, columns, events(count), method)
            results["ours" if schema == "analytics" else "naive"][label] = _rate(count, seconds)
            progress("ingestion", done, len(ways), count)
    return results


def _write_events(conn: psycopg.Connection, schema: str, columns: tuple[str, ...], rows: list[tuple], method: str) -> float:
    """Seconds to write `rows`: through track_event as their members, or as service_role in one
    transaction per row, per 1000 rows, or one COPY."""
    table = sql.SQL("{}.user_activity").format(sql.Identifier(schema))
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    insert = sql.SQL("insert into {} ({}) values ({})").format(
        table, names, sql.SQL(", ").join(sql.Placeholder() * len(columns))
    )
    started = time.perf_counter()
    if method == "track_event":
        for _, user_id, workspace_id, event_type, event_name, page_path, session_id, metadata, created_at in rows:
            with conn.transaction():
                become(conn, "member", user_id)
                conn.execute(
                    "select analytics.track_event(%s, %s, %s, %s, %s, %s::jsonb, null, %s)",
                    (event_type, workspace_id, event_name, page_path, session_id, metadata, created_at),
                )
    elif method == "insert_single":
        for row in rows:
            with conn.transaction():
                postgrest.impersonate(conn, "service_role")
                conn.execute(insert, row)
    elif method == "insert_batched_1000":
        for first in range(0, len(rows), 1000):
            with conn.transaction():
                postgrest.impersonate(conn, "service_role")
                conn.cursor().executemany(insert, rows[first:first + 1000])
    else:
        with conn.transaction():
            postgrest.impersonate(conn, "service_role")
            with conn.cursor().copy(sql.SQL("copy {} ({}) from stdin").format(table, names)) as copy:
                for row in rows:
                    copy.write_row(row)
    return time.perf_counter() - started


def _retention(bench: Run) -> dict:
    """Each schema's cleanup_old_data(): the same events older than 90 days go."""
    results = {}
    with bench.connect() as conn:
        for schema, role in (("analytics", "service_role"), ("naive", None)):
            table = sql.SQL("{}.user_activity").format(sql.Identifier(schema))
            hourly = sql.SQL("{}.hourly_metrics").format(sql.Identifier(schema))
            before = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]
            hourly_before = conn.execute(sql.SQL("select count(*) from {}").format(hourly)).fetchone()[0]
            seconds = db.timed(conn, sql.SQL("select {}.cleanup_old_data()").format(sql.Identifier(schema)), role=role)
            after = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]
            hourly_after = conn.execute(sql.SQL("select count(*) from {}").format(hourly)).fetchone()[0]
            results["ours" if schema == "analytics" else "naive"] = {
                "seconds": round(seconds, 3), "events_removed": before - after, "events_kept": after,
                "hourly_rows_removed": hourly_before - hourly_after,
            }
    results["ratio"] = _ratio(results["ours"]["seconds"], results["naive"]["seconds"])
    return results


# -- figures ------------------------------------------------------------------------------

def summary(values: list[float], unit: str = "s") -> dict:
    """Median, p95 and p99 (and the count) of timings in seconds, in seconds or milliseconds."""
    scale = 1000.0 if unit == "ms" else 1.0
    ordered = sorted(value * scale for value in values)
    if not ordered:
        return {"n": 0}

    def percentile(fraction: float) -> float:
        position = fraction * (len(ordered) - 1)
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    digits = 3 if unit == "ms" else 4
    return {
        "n": len(ordered),
        f"p50_{unit}": round(percentile(0.5), digits),
        f"p95_{unit}": round(percentile(0.95), digits),
        f"p99_{unit}": round(percentile(0.99), digits),
        f"max_{unit}": round(ordered[-1], digits),
    }


def _ratio(ours: float | None, naive_value: float | None) -> float | None:
    """Ours over naive: below 1 means ours is faster."""
    if not ours or not naive_value:
        return None
    return round(ours / naive_value, 4)


def _rate(count: int, seconds: float) -> dict:
    return {"rows": count, "seconds": round(seconds, 3), "rows_per_second": round(count / seconds)}
