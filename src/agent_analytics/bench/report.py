"""The benchmark's results as files: <label>.json (every figure), <label>.md (the report) and
the PNG plots (plots.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent_analytics import moved_clock
from agent_analytics.bench import plots
from agent_analytics.bench.live_snapshot import LIVE_SNAPSHOT_EVERY_S
from agent_analytics.bench.plans import WHOLE_TABLE_ROWS
from agent_analytics.bench.queries import load_queries
from agent_analytics.bench.results import (
    SIDES,
    BenchResults,
    Build,
    LoadResults,
    LoadTiming,
    RefreshTiming,
    Scan,
)
from agent_analytics.bench.scaling import ScalingPoint, in_scaling_order, other_runs

# The aims at large scale: (what, unit, bound, "<" or ">=").
TARGETS = {
    "member_p95_ms": ("every dashboard query as a member through RLS, p95 (the slowest)", "ms", 10.0, "<"),
    "refresh_all_s": ("refresh of all materialized views, median", "s", 5.0, "<"),
    "aggregation_s": ("one day's aggregation, median", "s", 10.0, "<"),
    "build_1h_s": ("incremental build after one new hour, end to end, median", "s", 30.0, "<"),
    "build_1h_vs_medium": ("that build at this scale over its time at medium", "×", 1.5, "<="),
    "refresh_speedup": ("refresh of all views: naive ÷ ours (a lower bound when naive hit its limit)", "×", 10.0, ">="),
    "member_speedup_min": ("member queries through RLS that both answer: naive ÷ ours p95, the smallest", "×", 10.0, ">="),
    "retention_speedup": ("retention (cleanup_old_data): naive ÷ ours", "×", 10.0, ">="),
}
INGESTION_PATHS = (
    ("track_event", "track_event() as a member (one request per event)"),
    ("insert_single", "INSERT as service_role, one row per transaction"),
    ("insert_batched_1000", "INSERT as service_role, 1000 rows per transaction"),
    ("copy", "COPY as service_role"),
)


def write(results: BenchResults, output: Path) -> list[Path]:
    """<label>.json, <label>.md and <label>-*.png in `output`; returns the files written."""
    output.mkdir(parents=True, exist_ok=True)
    json_path = output / f"{results.label}.json"
    json_path.write_text(json.dumps(results.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    others = other_runs(output, results.label)
    written = plots.write_plots(results, others, output)
    md_path = output / f"{results.label}.md"
    md_path.write_text(markdown(results, others, [plot.name for plot in written]), encoding="utf-8")
    return [json_path, md_path, *written]


def read(path: Path) -> BenchResults:
    """Results the benchmark wrote, to draw their report again."""
    return BenchResults.from_json(json.loads(path.read_text(encoding="utf-8")))


# -- figures drawn from the results --------------------------------------------------------

def target_figures(results: BenchResults, others: dict[str, ScalingPoint]) -> dict[str, float | None]:
    member = [entry.ours["member"].timings.p95 for entry in results.dashboard if "member" in entry.ours]
    medium = others.get("medium") if results.label != "medium" else None
    hour = ScalingPoint.of(results).build_1h_median
    medium_hour = medium.build_1h_median if medium else None
    # the same scale with the scale's own history: what a longer history alone costs
    default_history = others.get(results.scale) if results.label != results.scale else None
    default_hour = default_history.build_1h_median if default_history else None
    ours_all = results.refresh.ours["all"].timings.p50
    naive_all = results.refresh.naive["all"].timings.p50 or results.naive.time_limit_s
    speedups = [
        entry.naive["member"].timings.p95 / entry.ours["member"].timings.p95
        for entry in results.dashboard
        if "member" in entry.ours and entry.comparable("member")
    ]
    retention = results.retention
    return {
        "member_p95_ms": max(member) if member else None,
        "refresh_all_s": ours_all,
        "aggregation_s": results.aggregation.ours.timings.p50,
        "build_1h_s": hour,
        "build_1h_vs_medium": round(hour / medium_hour, 2) if hour and medium_hour else None,
        "build_1h_vs_default_history": round(hour / default_hour, 2) if hour and default_hour else None,
        "refresh_speedup": round(naive_all / ours_all, 1) if ours_all else None,
        "member_speedup_min": round(min(speedups), 2) if speedups else None,
        "retention_speedup": round(retention.naive.seconds / retention.ours.seconds, 1)
        if retention.ours.seconds else None,
    }


def met(value: float | None, bound: float, direction: str) -> str:
    if value is None:
        return "–"
    ok = value < bound if direction == "<" else value <= bound if direction == "<=" else value >= bound
    return "yes" if ok else "no"


def speedup(ours: float | None, naive: float | None) -> str:
    """'12.3× faster' or '0.8× (slower)': naive over ours."""
    if not ours or not naive:
        return "–"
    factor = naive / ours
    return f"{factor:,.1f}× faster" if factor >= 1 else f"{factor:.2f}× (slower)"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _bytes(value: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:,.1f} {unit}" if unit != "B" else f"{value:,.0f} B"
        value /= 1024
    return f"{value} B"


# -- Markdown -----------------------------------------------------------------------------

def markdown(results: BenchResults, others: dict[str, ScalingPoint], plot_names: list[str]) -> str:
    sections = (
        _header(results), _targets(results, others), _dashboard(results), _plans(results), _builds(results),
        _aggregation(results), _refreshes(results), _storage(results), _indexes(results), _ingestion(results),
        _retention(results), _alerts(results), _concurrency(results), _scaling(results, others), _plots(plot_names),
    )
    return "\n".join(line for section in sections for line in section)


def _header(results: BenchResults) -> list[str]:
    data, machine, options = results.data, results.machine, results.options
    days_option = f" --days {data.days - 2}" if results.label != results.scale else ""
    settings = ", ".join(f"{name}={value}" for name, value in sorted(machine.settings.items()))
    made = "reused" if data.reused else "generated in " + format(data.generated_seconds, ",.0f") + " s"
    return [
        f"# Benchmark at scale `{results.label}`",
        "",
        f"Run {results.started_at} with `agent-analytics bench --scale {results.scale}{days_option}` "
        f"({options.repeat} executions per query and role, "
        f"{options.hourly_builds} hourly and {options.daily_builds} daily builds, "
        f"{options.refresh_repeat} refreshes per view); it took {results.seconds:,.0f} s.",
        "",
        f"- Machine: {machine.cpu}, {machine.cores} cores, {machine.memory_gib} GiB; {machine.os}",
        f"- PostgreSQL: {machine.postgres}",
        f"- Server settings: {settings}",
        f"- Data: {data.workspaces:,} workspaces, {data.users:,} users, {data.memberships:,} memberships, "
        f"{data.agents:,} agents, {data.runs:,} runs and {data.events:,} events over {data.days} days "
        f"({made}), then the appends below",
        "",
        "Speed-ups are naive ÷ ours: how many times faster ours is on the same data in the same run.",
        "",
    ]


def _targets(results: BenchResults, others: dict[str, ScalingPoint]) -> list[str]:
    lines = ["## Targets", "", "| target | aim | measured | met |", "| --- | --- | --- | --- |"]
    figures = target_figures(results, others)
    for key, (what, unit, bound, direction) in TARGETS.items():
        value = figures[key]
        lines.append(f"| {what} | {direction.replace('<=', '≤').replace('>=', '≥')} {bound:g} {unit} | "
                     f"{_fmt(value)} {unit if value is not None else ''} | {met(value, bound, direction)} |")
    return [*lines, ""]


def live_snapshot_note() -> str:
    """What both query sections say of the queries timed beside the live snapshot
    (bench/live_snapshot.py): those sql/dashboard_queries.sql marks, and how often."""
    return (
        f"{', '.join(f'`{query.name}`' for query in load_queries() if query.live_snapshot)} ran with the live "
        f"snapshot taken every {LIVE_SNAPSHOT_EVERY_S:g} s beside them, as the worker takes it "
        "(docs/live-metrics.md, \"The snapshot\")."
    )


def _dashboard(results: BenchResults) -> list[str]:
    lines = [
        "## Dashboard queries",
        "",
        "Milliseconds per query, client round trip included, over the sampled workspaces, after one untimed "
        "pass over them (the run evicts the pages a dashboard keeps warm). A member runs as "
        "`authenticated` with JWT claims, through RLS, as PostgREST does; `service_role` bypasses RLS. "
        + live_snapshot_note(),
        "",
        "| query | role | ours p50 | ours p95 | ours p99 | naive p50 | naive p95 | naive p99 | p95 speed-up | rows (ours / naive) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in results.dashboard:
        for role, timing in entry.ours.items():
            ours, base = timing.timings, entry.naive[role]
            mine = f"| {entry.name} | {role} | {ours.p50:.2f} | {ours.p95:.2f} | {ours.p99:.2f} | "
            if base.unavailable:
                lines.append(mine + f"– | – | – | – | {timing.rows_median:g} / – (naive: {base.unavailable}) |")
                continue
            note = " (naive returns nothing)" if base.rows_median == 0 and timing.rows_median > 0 else ""
            lines.append(
                mine + f"{base.timings.p50:.2f} | {base.timings.p95:.2f} | {base.timings.p99:.2f} | "
                f"{speedup(ours.p95, base.timings.p95)} | {timing.rows_median:g} / {base.rows_median:g}{note} |"
            )
    lines.append("")
    lines += [f"- `{entry.name}`: {entry.what}" for entry in results.dashboard]
    return [*lines, ""]


def _plans(results: BenchResults) -> list[str]:
    lines = [
        "## Query plans",
        "",
        "`EXPLAIN (ANALYZE, BUFFERS)` of each query for the first sampled workspace. A sequential scan of a "
        f"relation of {WHOLE_TABLE_ROWS:,} rows or more is flagged as a whole-table scan.",
        "",
        "| query | role | schema | planning ms | execution ms | buffers hit / read | scans | whole-table scans |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for explained in results.explain:
        plan = explained.plan
        scans = "; ".join(f"{node} on {relation}" + (f" using {index}" if index else "")
                          for node, relation, index in _distinct_scans(plan.scans))
        whole = ", ".join(sorted(set(plan.whole_table_scans))) or "none"
        lines.append(f"| {explained.query} | {explained.role} | {explained.schema} | {plan.planning_ms:.2f} | "
                     f"{plan.execution_ms:.2f} | {plan.shared_hit:,} / {plan.shared_read:,} | {scans} | {whole} |")
    return [*lines, ""]


def _distinct_scans(scans: list[Scan]) -> list[tuple[str, str, str | None]]:
    """(node, relation, index), one per relation family: partitions of one table read alike."""
    seen, distinct = set(), []
    for scan in scans:
        relation = scan.relation.split("_p2")[0] if "_p2" in scan.relation else scan.relation
        key = (scan.node, relation, scan.index.split("_p2")[0] if scan.index else None)
        if key not in seen:
            seen.add(key)
            distinct.append((scan.node, relation + (" (partitions)" if relation != scan.relation else ""), scan.index))
    return distinct


def _builds(results: BenchResults) -> list[str]:
    lines = [
        "## Builds",
        "",
        "`dbt " + " ".join(results.build_command) + "` as the schedule runs it, end to end: "
        "dbt's start-up, parsing, hooks, models and tests.",
        "",
        "| build | seconds | dbt's own elapsed | appended events (late) | runs added / updated | slowest nodes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    builds = results.builds
    for build, title in ((builds.full, "from nothing"), (builds.no_change, "nothing new")):
        lines.append(f"| {title} | {build.seconds:.1f} | {build.dbt_elapsed:.1f} | – | – | {_slowest(build)} |")
    for appended_builds, title in ((builds.append_1h, "after --append 1h"), (builds.append_1d, "after --append 1d")):
        for build in appended_builds:
            appended = build.appended
            lines.append(f"| {title} | {build.seconds:.1f} | {build.dbt_elapsed:.1f} | "
                         f"{appended.events:,} ({appended.late_events:,}) | {appended.runs:,} / "
                         f"{appended.runs_updated:,} | {_slowest(build)} |")
    return [*lines, ""]


def _slowest(build: Build, count: int = 3) -> str:
    return ", ".join(f"{node.node} {node.seconds:.1f} s" for node in build.slowest[:count])


def _aggregation(results: BenchResults) -> list[str]:
    lines = ["## One day's aggregation", "", "| implementation | median s | p95 s | what it computes |",
             "| --- | --- | --- | --- |"]
    for side in SIDES:
        timing = getattr(results.aggregation, side)
        if timing is not None:
            lines.append(f"| {side} | {timing.timings.p50:.3f} | {timing.timings.p95:.3f} | {timing.computes} |")
    return [
        *lines,
        "",
        "The two compute different things, so there is no ratio: ours writes every column of metrics.md; the "
        "spec's function fills 9 columns, several of them wrongly (spec-defects S4).",
        "",
    ]


def _refreshes(results: BenchResults) -> list[str]:
    lines = ["## Materialized view refreshes", "",
             "| view | ours median s | naive median s | speed-up | ours WAL, median | naive WAL, median |",
             "| --- | --- | --- | --- | --- | --- |"]
    limit = results.naive.time_limit_s
    for view, timing in results.refresh.ours.items():
        ours = timing.timings.p50
        base = results.refresh.naive.get(view)
        title = "all (refresh_all_materialized_views)" if view == "all" else view
        wal = f"{_wal(timing)} | {_wal(base)}"
        if base and (base.timed_out_after_s or base.unavailable):
            lines.append(f"| {title} | {ours:.3f} | > {limit:,.0f} (stopped at the limit) | "
                         f"more than {limit / ours:,.0f}× faster | {wal} |")
        else:
            naive_median = base.timings.p50 if base else None
            lines.append(f"| {title} | {ours:.3f} | {_fmt(naive_median, 3)} | {speedup(ours, naive_median)} | {wal} |")
    fills = ", ".join(f"{view} {'> ' + format(limit, ',.0f') if seconds is None else format(seconds, ',.1f')} s"
                      for view, seconds in results.naive.first_fill_s.items())
    lines.append("The naive views are created empty and filled once first (a plain refresh, as creating them with "
                 f"data would): {fills}. Every naive statement is stopped after {limit:,.0f} s. WAL: what the "
                 "cluster wrote while one refresh ran (pg_current_wal_insert_lsn before and after), which replicas, "
                 "backups and the disk pay for.")
    return [*lines, ""]


def _wal(timing: RefreshTiming | None) -> str:
    return "–" if timing is None or timing.wal_bytes_p50 is None else _bytes(timing.wal_bytes_p50)


def _storage(results: BenchResults) -> list[str]:
    storage = results.storage
    ours, naive = storage.ours, storage.naive
    lines = [
        "## Storage",
        "",
        "| | ours | naive |",
        "| --- | --- | --- |",
        f"| all tables and indexes | {_bytes(ours.total_bytes)} | {_bytes(naive.total_bytes)} |",
        f"| the event table, indexes included | {_bytes(ours.event_table_bytes)} | "
        f"{_bytes(naive.event_table_bytes)} |",
        f"| bytes per event (event table) | {ours.bytes_per_event:,.0f} | {naive.bytes_per_event:,.0f} |",
        f"| bytes per event (every table) | {ours.bytes_per_event_all_tables:,.0f} | "
        f"{naive.bytes_per_event_all_tables:,.0f} |",
        f"| bytes per workspace-month | {_bytes(ours.bytes_per_workspace_month)} | "
        f"{_bytes(naive.bytes_per_workspace_month)} |",
        f"| events a workspace can have in a month before its share reaches 1 GB | "
        f"{ours.events_per_workspace_month_for_1gb:,} | {naive.events_per_workspace_month_for_1gb:,} |",
        f"| bytes per run (the app's `agent_runs`, shared) | {storage.bytes_per_run:,.0f} | "
        f"{storage.bytes_per_run:,.0f} |",
        "",
        f"Over {storage.months_of_data} months of data. Per table (heap and TOAST, then indexes):",
        "",
        "| schema | table | rows | table | indexes | bytes per row |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for table in storage.tables:
        if table.schema == "public" and table.table != "agent_runs":
            continue
        lines.append(f"| {table.schema} | {table.table} | {table.rows:,} | {_bytes(table.table_bytes)} | "
                     f"{_bytes(table.index_bytes)} | {_fmt(table.bytes_per_row, 0)} |")
    return [*lines, ""]


def _indexes(results: BenchResults) -> list[str]:
    indexes = results.indexes
    lines = [
        "## Indexes",
        "",
        "Indexes that nothing in this run scanned (the builds, the functions, the dashboard queries), from "
        "`pg_stat_user_indexes`; those that enforce a key are listed but are needed for it.",
        "",
        "| index | size | enforces |",
        "| --- | --- | --- |",
        *(f"| {index.index} | {_bytes(index.bytes)} | {index.enforces or '–'} |" for index in indexes.unused),
        "",
        "Btree indexes whose columns lead another index of the same table (that one serves their queries):",
        "",
        "| index | covered by | size |",
        "| --- | --- | --- |",
        *(f"| {index.index} | {index.covered_by} | {_bytes(index.bytes)} |" for index in indexes.covered),
    ]
    if not indexes.covered:
        lines.append("| none | | |")
    return [*lines, ""]


def _ingestion(results: BenchResults) -> list[str]:
    lines = ["## Ingestion", "", "| path | ours rows/s | naive rows/s | speed-up |", "| --- | --- | --- | --- |"]
    for path, title in INGESTION_PATHS:
        ours = results.ingestion.ours[path]
        base = results.ingestion.naive.get(path)
        if base:
            lines.append(f"| {title} | {ours.rows_per_second:,} | {base.rows_per_second:,} | "
                         f"{speedup(1 / ours.rows_per_second, 1 / base.rows_per_second)} |")
        else:
            lines.append(f"| {title} | {ours.rows_per_second:,} | – | – (the spec has no such path) |")
    return [*lines, ""]


def _retention(results: BenchResults) -> list[str]:
    retention = results.retention
    lines = [
        "## Retention",
        "",
        "Both functions delete events older than 90 days and hourly rows older than 30 days.",
        "",
        "| | seconds | events removed | events kept | hourly rows removed |",
        "| --- | --- | --- | --- | --- |",
    ]
    for side in SIDES:
        timing = getattr(retention, side)
        lines.append(f"| {side} `cleanup_old_data()` | {timing.seconds:.3f} | {timing.events_removed:,} | "
                     f"{timing.events_kept:,} | {timing.hourly_rows_removed:,} |")
    lines.append(f"\nSpeed-up: {speedup(retention.ours.seconds, retention.naive.seconds)}.")
    return [*lines, ""]


def _alerts(results: BenchResults) -> list[str]:
    evaluation = results.alerts
    if evaluation is None:
        return []
    lines = [
        "## Alert evaluation",
        "",
        f"{evaluation.rules:,} active rules (six metrics, windows of 5 minutes to a day, a few platform-wide), "
        f"evaluated at the end of the data ({evaluation.firing:,} firing after ours); seconds, as service_role.",
        "",
        "| | median | p95 | runs |",
        "| --- | --- | --- | --- |",
    ]
    for title, timing in (("ours: `evaluate_alerts()`, one pass", evaluation.ours),
                          ("per rule (the function it replaced)", evaluation.per_rule)):
        lines.append(f"| {title} | {_fmt(timing.p50, 3)} | {_fmt(timing.p95, 3)} | {timing.n} |")
    lines.append(f"\nSpeed-up: {speedup(evaluation.ours.p50, evaluation.per_rule.p50)}.")
    return [*lines, ""]


def _concurrency(results: BenchResults) -> list[str]:
    if not results.concurrency:
        return []
    clock = None
    if results.load_window is not None:
        data_end = results.data.data_end_after_appends
        clock = load_clock_line(None if data_end is None else datetime.fromisoformat(data_end),
                                datetime.fromisoformat(results.load_window.started_at),
                                datetime.fromisoformat(results.load_window.ended_at), None,
                                "start the benchmark earlier, or measure the section alone at a chosen hour "
                                "(./scripts/measure-dashboard-load ... --at '[DAY] HH:MM')")
    return load_table(results.concurrency, results.options.load_seconds, results.options.load_rounds, clock,
                      results.options.load_transactions)


def utc_minute(moment: datetime) -> str:
    """`Sun 2026-12-06 21:00`, in UTC: the weekday too, since the generated traffic is a third at
    weekends and a user's recent events plan a third partition on Sundays (docs/performance.md)."""
    moment = moment.astimezone(UTC)
    return f"{moved_clock.weekday_abbreviation(moment.weekday())} {moment:%Y-%m-%d %H:%M}"


def load_clock_line(data_end: datetime | None, started: datetime, ended: datetime, moved: timedelta | None,
                    remedy: str) -> str:
    """When the data end and the load ran by the server's clock, and how old the UTC day was: the
    live hour and day's cost grows with it, and starts again from nothing at 00:00 UTC. `remedy`
    says how the caller's reader avoids a load that crosses it."""
    def day_age(moment: datetime) -> float:
        return (moment - moment.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 3600

    started, ended = started.astimezone(UTC), ended.astimezone(UTC)
    moved_text = ("not moved" if moved is None
                  else f"moved {moved.total_seconds() / 3600:.2f} h ahead with libfaketime")
    data_text = "" if data_end is None else f"the data end {utc_minute(data_end)} UTC and "
    line = (f"By the server's clock ({moved_text}), {data_text}the load ran "
            f"{utc_minute(started)} to {utc_minute(ended)} UTC: the current UTC day was "
            f"{day_age(started):.1f} to {day_age(ended):.1f} hours old.")
    if ended.date() != started.date():
        line += f" The load crossed 00:00 UTC: its later cells measured a new day with almost nothing live; {remedy}."
    return line


def load_table(load: LoadResults, seconds: int | None, rounds: int | None = None, clock: str | None = None,
               transactions: int | None = None) -> list[str]:
    """The concurrency section: each query, protocol and client count, for our member, our
    service_role and naive; `clock`, when the load ran (load_clock_line), under its heading;
    `transactions`, per client of each cell, when the cells ran so many instead of `seconds`."""
    turns = (f", {rounds} rounds with the callers taking turns (TPS: their median; p95: over every transaction)"
             if rounds and rounds > 1 else "")
    length = (f"{transactions} transactions per client in each cell (a quick run: its figures are no measurement)"
              if transactions else f"{seconds} s per cell")
    lines = [
        "## Dashboard queries under load",
        "",
        *([clock, ""] if clock else []),
        f"pgbench, {length}{turns}; each transaction a request as PostgREST makes it (the role, the JWT claims "
        "and the headers set in one statement, then the query). `simple`: the simple protocol, as through "
        "Supabase's transaction pooler; `prepared`: prepared statements, PostgREST's default. TPS, and p95 "
        "latency in ms; *(no rows)*: the request answers nothing for the median sampled parameters, so its "
        "throughput is not a comparison. *member/service*: our member's TPS over our service_role's (the aim: "
        "at least 0.8, within 1.25×); *ours/naive*: our service_role's TPS over naive's. " + live_snapshot_note(),
        "",
        "| query | protocol | clients | ours member | ours service | naive | member/service | ours/naive |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def cell(timing: LoadTiming | None) -> str:
        if timing is None:
            return "–"
        if timing.timed_out_after_s is not None:
            return f"a request ran past {timing.timed_out_after_s:g} s"
        if timing.unavailable or timing.tps is None:
            return "not filled"
        empty = " (no rows)" if timing.rows_median == 0 else ""
        return f"{timing.tps:,.0f} / {_fmt(timing.latency.p95, 1)}{empty}"

    def share(top: LoadTiming | None, bottom: LoadTiming | None) -> str:
        if top is None or bottom is None or not top.tps or not bottom.tps:
            return "–"
        return f"{top.tps / bottom.tps:.2f}"

    for name, callers in load.items():
        protocols = sorted({protocol for by_protocol in callers.values() for protocol in by_protocol}, reverse=True)
        for protocol in protocols:
            counts = sorted({count for by_protocol in callers.values() for count in by_protocol.get(protocol, {})},
                            key=int)
            for count in counts:
                member, service, naive = (callers.get(caller, {}).get(protocol, {}).get(count)
                                          for caller in ("ours-member", "ours-service", "naive"))
                lines.append(f"| {name} | {protocol} | {count} | {cell(member)} | {cell(service)} | {cell(naive)} "
                             f"| {share(member, service)} | {share(service, naive)} |")
    return [*lines, ""]


def _scaling(results: BenchResults, others: dict[str, ScalingPoint]) -> list[str]:
    if not others:
        return []
    lines = [
        "## Scaling",
        "",
        "| run | days of history | events | events per appended hour | incremental build after 1h, median s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for point in in_scaling_order(ScalingPoint.of(results), others):
        lines.append(f"| {point.label} | {point.days - 2} | {point.events:,} | {_fmt(point.events_per_hour, 0)} | "
                     f"{_fmt(point.build_1h_median, 1)} |")
    versus_default = target_figures(results, others)["build_1h_vs_default_history"]
    if versus_default is not None:
        lines += [
            "",
            f"With {results.data.days - 2} days of history instead of the scale's "
            f"{others[results.scale].days - 2}, the same new data costs {versus_default:g}× "
            "the time of the incremental build after one new hour with the scale's own history.",
        ]
    return [*lines, ""]


def _plots(plot_names: list[str]) -> list[str]:
    if not plot_names:
        return []
    return ["## Plots", "", *(f"![{name}]({name})" for name in plot_names), ""]
