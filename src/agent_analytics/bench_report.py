"""The benchmark's results as JSON, a Markdown report and PNG plots."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

SCALES_IN_ORDER = ("tiny", "small", "medium", "large")
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


def label_of(results: dict) -> str:
    """The scale, with the days of history when a run chose them (results from before `--days`
    carry no label)."""
    return results.get("label") or results["scale"]


def write(results: dict, output: Path) -> list[Path]:
    """<label>.json, <label>.md and <label>-*.png in `output`; returns the files written."""
    output.mkdir(parents=True, exist_ok=True)
    label = label_of(results)
    json_path = output / f"{label}.json"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    others = _other_runs(output, label)
    plots = write_plots(results, others, output)
    md_path = output / f"{label}.md"
    md_path.write_text(markdown(results, others, [plot.name for plot in plots]), encoding="utf-8")
    return [json_path, md_path, *plots]


def _other_runs(output: Path, label: str) -> dict[str, dict]:
    """Results of the other scales and histories already in the output folder, by label, for
    the scaling comparison."""
    found = {}
    for path in sorted(output.glob("*.json")):
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(results, dict) and results.get("scale") in SCALES_IN_ORDER and "builds" in results:
            if label_of(results) != label and path.stem == label_of(results):
                found[label_of(results)] = results
    return found


def in_scaling_order(results: dict, others: dict[str, dict]) -> list[tuple[str, dict]]:
    """This run and the others, smallest history first."""
    runs = {**others, label_of(results): results}
    return sorted(runs.items(), key=lambda item: item[1]["data"]["events"])


# -- figures drawn from the results --------------------------------------------------------

def build_1h_median(results: dict) -> float | None:
    builds = results["builds"].get("append_1h") or []
    return statistics.median(build["seconds"] for build in builds) if builds else None


def target_figures(results: dict, others: dict[str, dict]) -> dict[str, float | None]:
    member = [entry["ours"]["member"]["p95_ms"] for entry in results["dashboard"] if "member" in entry["ours"]]
    medium = others.get("medium") if label_of(results) != "medium" else None
    hour = build_1h_median(results)
    medium_hour = build_1h_median(medium) if medium else None
    # the same scale with the scale's own history: what a longer history alone costs
    default_history = others.get(results["scale"]) if label_of(results) != results["scale"] else None
    default_hour = build_1h_median(default_history) if default_history else None
    ours_all = results["refresh"]["ours"]["all"]["p50_s"]
    naive_all = results["refresh"]["naive"]["all"].get("p50_s") or results["naive"]["time_limit_s"]
    speedups = [
        entry["naive"]["member"]["p95_ms"] / entry["ours"]["member"]["p95_ms"]
        for entry in results["dashboard"]
        if "member" in entry["ours"] and comparable(entry, "member")
    ]
    retention = results["retention"]
    return {
        "member_p95_ms": max(member) if member else None,
        "refresh_all_s": ours_all,
        "aggregation_s": results["aggregation"]["ours"]["p50_s"],
        "build_1h_s": hour,
        "build_1h_vs_medium": round(hour / medium_hour, 2) if hour and medium_hour else None,
        "build_1h_vs_default_history": round(hour / default_hour, 2) if hour and default_hour else None,
        "refresh_speedup": round(naive_all / ours_all, 1) if ours_all else None,
        "member_speedup_min": round(min(speedups), 2) if speedups else None,
        "retention_speedup": round(retention["naive"]["seconds"] / retention["ours"]["seconds"], 1)
        if retention["ours"]["seconds"] else None,
    }


def comparable(entry: dict, role: str) -> bool:
    """Both schemas answered the query with rows: naive returned something, from a populated view."""
    ours, base = entry["ours"].get(role, {}), entry["naive"].get(role, {})
    return "p95_ms" in base and "p95_ms" in ours and base["rows_median"] > 0 and ours["rows_median"] > 0


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


def _fmt(value: float | str | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    # the JSON keeps decimals as text; a report drawn again from it reads them back
    return f"{float(value):,.{digits}f}"


def _bytes(value: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:,.1f} {unit}" if unit != "B" else f"{value:,.0f} B"
        value /= 1024
    return f"{value} B"


# -- Markdown -----------------------------------------------------------------------------

def markdown(results: dict, others: dict[str, dict], plots: list[str]) -> str:
    lines: list[str] = []
    add = lines.append
    data, machine = results["data"], results["machine"]
    add(f"# Benchmark at scale `{label_of(results)}`")
    add("")
    days_option = f" --days {results['data']['days'] - 2}" if label_of(results) != results["scale"] else ""
    add(f"Run {results['started_at']} with `agent-analytics bench --scale {results['scale']}{days_option}` "
        f"({results['options']['repeat']} executions per query and role, "
        f"{results['options']['hourly_builds']} hourly and {results['options']['daily_builds']} daily builds, "
        f"{results['options']['refresh_repeat']} refreshes per view); it took {results['seconds']:,.0f} s.")
    add("")
    add(f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; {machine['os']}")
    add(f"- PostgreSQL: {machine['postgres']}")
    settings = ", ".join(f"{name}={value}" for name, value in sorted(machine["settings"].items()))
    add(f"- Server settings: {settings}")
    add(f"- Data: {data['workspaces']:,} workspaces, {data['users']:,} users, {data['memberships']:,} memberships, "
        f"{data['agents']:,} agents, {data['runs']:,} runs and {data['events']:,} events over {data['days']} days "
        f"({'reused' if data['reused'] else 'generated in ' + format(data['generated_seconds'], ',.0f') + ' s'}), "
        f"then the appends below")
    add("")
    add("Speed-ups are naive ÷ ours: how many times faster ours is on the same data in the same run.")
    add("")

    add("## Targets")
    add("")
    add("| target | aim | measured | met |")
    add("| --- | --- | --- | --- |")
    figures = target_figures(results, others)
    for key, (what, unit, bound, direction) in TARGETS.items():
        value = figures[key]
        add(f"| {what} | {direction.replace('<=', '≤').replace('>=', '≥')} {bound:g} {unit} | "
            f"{_fmt(value)} {unit if value is not None else ''} | {met(value, bound, direction)} |")
    add("")

    add("## Dashboard queries")
    add("")
    add("Milliseconds per query, client round trip included, over the sampled workspaces, after one untimed "
        "pass over them (the run evicts the pages a dashboard keeps warm). A member runs as "
        "`authenticated` with JWT claims, through RLS, as PostgREST does; `service_role` bypasses RLS.")
    add("")
    add("| query | role | ours p50 | ours p95 | ours p99 | naive p50 | naive p95 | naive p99 | p95 speed-up | rows (ours / naive) |")
    add("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for entry in results["dashboard"]:
        for role, ours in entry["ours"].items():
            base = entry["naive"][role]
            if "unavailable" in base:
                add(f"| {entry['name']} | {role} | {ours['p50_ms']:.2f} | {ours['p95_ms']:.2f} | {ours['p99_ms']:.2f} | "
                    f"– | – | – | – | {ours['rows_median']:g} / – (naive: {base['unavailable']}) |")
                continue
            note = ""
            if base["rows_median"] == 0 and ours["rows_median"] > 0:
                note = " (naive returns nothing)"
            add(f"| {entry['name']} | {role} | {ours['p50_ms']:.2f} | {ours['p95_ms']:.2f} | {ours['p99_ms']:.2f} | "
                f"{base['p50_ms']:.2f} | {base['p95_ms']:.2f} | {base['p99_ms']:.2f} | "
                f"{speedup(ours['p95_ms'], base['p95_ms'])} | {ours['rows_median']:g} / {base['rows_median']:g}{note} |")
    add("")
    for entry in results["dashboard"]:
        add(f"- `{entry['name']}`: {entry['what']}")
    add("")

    add("## Query plans")
    add("")
    add("`EXPLAIN (ANALYZE, BUFFERS)` of each query for the first sampled workspace. A sequential scan of a "
        f"relation of {10_000:,} rows or more is flagged as a whole-table scan.")
    add("")
    add("| query | role | schema | planning ms | execution ms | buffers hit / read | scans | whole-table scans |")
    add("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for plan in results["explain"]:
        scans = "; ".join(
            f"{scan['node']} on {scan['relation']}" + (f" using {scan['index']}" if scan["index"] else "")
            for scan in _distinct_scans(plan["scans"])
        )
        whole = ", ".join(sorted(set(plan["whole_table_scans"]))) or "none"
        add(f"| {plan['query']} | {plan['role']} | {plan['schema']} | {plan['planning_ms']:.2f} | "
            f"{plan['execution_ms']:.2f} | {plan['shared_hit']:,} / {plan['shared_read']:,} | {scans} | {whole} |")
    add("")

    add("## Builds")
    add("")
    add("`dbt " + " ".join(results.get("build_command", ["build"])) + "` as the schedule runs it, end to end: "
        "dbt's start-up, parsing, hooks, models and tests.")
    add("")
    add("| build | seconds | dbt's own elapsed | appended events (late) | runs added / updated | slowest nodes |")
    add("| --- | --- | --- | --- | --- | --- |")
    builds = results["builds"]
    for label, title in (("full", "from nothing"), ("no_change", "nothing new")):
        build = builds[label]
        add(f"| {title} | {build['seconds']:.1f} | {build['dbt_elapsed']:.1f} | – | – | {_slowest(build)} |")
    for label, title in (("append_1h", "after --append 1h"), ("append_1d", "after --append 1d")):
        for build in builds.get(label, []):
            appended = build["appended"]
            add(f"| {title} | {build['seconds']:.1f} | {build['dbt_elapsed']:.1f} | "
                f"{appended['events']:,} ({appended['late_events']:,}) | {appended['runs']:,} / "
                f"{appended['runs_updated']:,} | {_slowest(build)} |")
    add("")

    add("## One day's aggregation")
    add("")
    aggregation = results["aggregation"]
    add("| implementation | median s | p95 s | what it computes |")
    add("| --- | --- | --- | --- |")
    for side in ("ours", "naive"):
        if side in aggregation:
            figures_ = aggregation[side]
            add(f"| {side} | {figures_['p50_s']:.3f} | {figures_['p95_s']:.3f} | {figures_['computes']} |")
    add("")
    add("The two compute different things, so there is no ratio: ours writes every column of metrics.md; the "
        "spec's function fills 9 columns, several of them wrongly (spec-defects S4).")
    add("")

    add("## Materialized view refreshes")
    add("")
    add("| view | ours median s | naive median s | speed-up |")
    add("| --- | --- | --- | --- |")
    refresh = results["refresh"]
    for view, ours in refresh["ours"].items():
        base = refresh.get("naive", {}).get(view, {})
        title = "all (refresh_all_materialized_views)" if view == "all" else view
        if base.get("timed_out_after_s") or base.get("unavailable"):
            limit = results["naive"]["time_limit_s"]
            add(f"| {title} | {ours['p50_s']:.3f} | > {limit:,.0f} (stopped at the limit) | "
                f"more than {limit / ours['p50_s']:,.0f}× faster |")
        else:
            add(f"| {title} | {ours['p50_s']:.3f} | {_fmt(base.get('p50_s'), 3)} | "
                f"{speedup(ours['p50_s'], base.get('p50_s'))} |")
    fills = results["naive"]["first_fill_s"]
    add("The naive views are created empty and filled once first (a plain refresh, as creating them with data "
        "would): " + ", ".join(f"{view} {'> ' + format(results['naive']['time_limit_s'], ',.0f') if seconds is None else format(seconds, ',.1f')} s"
                               for view, seconds in fills.items())
        + f". Every naive statement is stopped after {results['naive']['time_limit_s']:,.0f} s.")
    add("")

    storage = results["storage"]
    add("## Storage")
    add("")
    add("| | ours | naive |")
    add("| --- | --- | --- |")
    ours_s, naive_s = storage["ours"], storage["naive"]
    add(f"| all tables and indexes | {_bytes(ours_s['total_bytes'])} | {_bytes(naive_s['total_bytes'])} |")
    add(f"| the event table, indexes included | {_bytes(ours_s['event_table_bytes'])} | "
        f"{_bytes(naive_s['event_table_bytes'])} |")
    add(f"| bytes per event (event table) | {ours_s['bytes_per_event']:,.0f} | {naive_s['bytes_per_event']:,.0f} |")
    add(f"| bytes per event (every table) | {ours_s['bytes_per_event_all_tables']:,.0f} | "
        f"{naive_s['bytes_per_event_all_tables']:,.0f} |")
    add(f"| bytes per workspace-month | {_bytes(ours_s['bytes_per_workspace_month'])} | "
        f"{_bytes(naive_s['bytes_per_workspace_month'])} |")
    add(f"| events a workspace can have in a month before its share reaches 1 GB | "
        f"{ours_s['events_per_workspace_month_for_1gb']:,} | {naive_s['events_per_workspace_month_for_1gb']:,} |")
    add(f"| bytes per run (the app's `agent_runs`, shared) | {storage['bytes_per_run']:,.0f} | "
        f"{storage['bytes_per_run']:,.0f} |")
    add("")
    add(f"Over {storage['months_of_data']} months of data. Per table (heap and TOAST, then indexes):")
    add("")
    add("| schema | table | rows | table | indexes | bytes per row |")
    add("| --- | --- | --- | --- | --- | --- |")
    for table in storage["tables"]:
        if table["schema"] == "public" and table["table"] != "agent_runs":
            continue
        add(f"| {table['schema']} | {table['table']} | {table['rows']:,} | {_bytes(table['table_bytes'])} | "
            f"{_bytes(table['index_bytes'])} | {_fmt(table['bytes_per_row'], 0)} |")
    add("")

    indexes = results["indexes"]
    add("## Indexes")
    add("")
    add("Indexes that nothing in this run scanned (the builds, the functions, the dashboard queries), from "
        "`pg_stat_user_indexes`; those that enforce a key are listed but are needed for it.")
    add("")
    add("| index | size | enforces |")
    add("| --- | --- | --- |")
    for index in indexes["unused"]:
        add(f"| {index['index']} | {_bytes(index['bytes'])} | {index['enforces'] or '–'} |")
    add("")
    add("Btree indexes whose columns lead another index of the same table (that one serves their queries):")
    add("")
    add("| index | covered by | size |")
    add("| --- | --- | --- |")
    for index in indexes["covered"]:
        add(f"| {index['index']} | {index['covered_by']} | {_bytes(index['bytes'])} |")
    if not indexes["covered"]:
        add("| none | | |")
    add("")

    ingestion = results["ingestion"]
    add("## Ingestion")
    add("")
    add("| path | ours rows/s | naive rows/s | speed-up |")
    add("| --- | --- | --- | --- |")
    for label, title in (("track_event", "track_event() as a member (one request per event)"),
                         ("insert_single", "INSERT as service_role, one row per transaction"),
                         ("insert_batched_1000", "INSERT as service_role, 1000 rows per transaction"),
                         ("copy", "COPY as service_role")):
        ours = ingestion["ours"][label]
        base = ingestion["naive"].get(label)
        if base:
            add(f"| {title} | {ours['rows_per_second']:,} | {base['rows_per_second']:,} | "
                f"{speedup(1 / ours['rows_per_second'], 1 / base['rows_per_second'])} |")
        else:
            add(f"| {title} | {ours['rows_per_second']:,} | – | – (the spec has no such path) |")
    add("")

    retention = results["retention"]
    add("## Retention")
    add("")
    add("Both functions delete events older than 90 days and hourly rows older than 30 days.")
    add("")
    add("| | seconds | events removed | events kept | hourly rows removed |")
    add("| --- | --- | --- | --- | --- |")
    for side in ("ours", "naive"):
        figures_ = retention[side]
        add(f"| {side} `cleanup_old_data()` | {figures_['seconds']:.3f} | {figures_['events_removed']:,} | "
            f"{figures_['events_kept']:,} | {figures_.get('hourly_rows_removed', 0):,} |")
    add(f"\nSpeed-up: {speedup(retention['ours']['seconds'], retention['naive']['seconds'])}.")
    add("")

    if others:
        add("## Scaling")
        add("")
        add("| run | days of history | events | events per appended hour | incremental build after 1h, median s |")
        add("| --- | --- | --- | --- | --- |")
        for name, entry in in_scaling_order(results, others):
            hours = entry["builds"].get("append_1h") or []
            per_hour = statistics.median(build["appended"]["events"] for build in hours) if hours else None
            add(f"| {name} | {entry['data']['days'] - 2} | {entry['data']['events']:,} | {_fmt(per_hour, 0)} | "
                f"{_fmt(build_1h_median(entry), 1)} |")
        versus_default = target_figures(results, others)["build_1h_vs_default_history"]
        if versus_default is not None:
            add("")
            add(f"With {results['data']['days'] - 2} days of history instead of the scale's "
                f"{others[results['scale']]['data']['days'] - 2}, the same new data costs {versus_default:g}× "
                "the time of the incremental build after one new hour with the scale's own history.")
        add("")

    if plots:
        add("## Plots")
        add("")
        for plot in plots:
            add(f"![{plot}]({plot})")
        add("")
    return "\n".join(lines)


def _distinct_scans(scans: list[dict]) -> list[dict]:
    """One line per (node, relation family, index): partitions of one table read alike."""
    seen, distinct = set(), []
    for scan in scans:
        relation = scan["relation"].split("_p2")[0] if "_p2" in scan["relation"] else scan["relation"]
        key = (scan["node"], relation, scan["index"].split("_p2")[0] if scan["index"] else None)
        if key not in seen:
            seen.add(key)
            distinct.append({**scan, "relation": relation + (" (partitions)" if relation != scan["relation"] else "")})
    return distinct


def _slowest(build: dict, count: int = 3) -> str:
    return ", ".join(f"{node['node']} {node['seconds']:.1f} s" for node in build["slowest"][:count])


# -- plots --------------------------------------------------------------------------------

def write_plots(results: dict, others: dict[str, dict], output: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = label_of(results)
    written = []

    figure, axis = plt.subplots(figsize=(9, 0.45 * len(results["dashboard"]) + 2.5))
    names = [entry["name"] for entry in results["dashboard"]]
    series = [("ours", "member", "#1f77b4"), ("naive", "member", "#ff7f0e"),
              ("ours", "service", "#aec7e8"), ("naive", "service", "#ffbb78")]
    height = 0.2
    for offset, (side, role, color) in enumerate(series):
        values = [entry[side].get(role, {}).get("p95_ms") or 0 for entry in results["dashboard"]]
        axis.barh([index + (offset - 1.5) * height for index in range(len(names))], values, height,
                  label=f"{side}, {role}", color=color)
    axis.axvline(10, color="red", linestyle="--", linewidth=1, label="10 ms aim")
    axis.set_xscale("log")
    axis.set_yticks(range(len(names)), names)
    axis.invert_yaxis()
    axis.set_xlabel("p95 latency, ms (log scale)")
    axis.set_title(f"Dashboard queries at scale {scale}")
    axis.legend(loc="lower right", fontsize=8)
    written.append(_save(figure, output / f"{scale}-dashboard.png"))

    figure, axis = plt.subplots(figsize=(9, 4))
    builds = results["builds"]
    labels, values = ["from nothing", "nothing new"], [builds["full"]["seconds"], builds["no_change"]["seconds"]]
    for label, title in (("append_1h", "+1h"), ("append_1d", "+1d")):
        for number, build in enumerate(builds.get(label, []), start=1):
            labels.append(f"{title} #{number}")
            values.append(build["seconds"])
    axis.bar(labels, values, color="#1f77b4")
    axis.axhline(30, color="red", linestyle="--", linewidth=1, label="30 s aim for +1h")
    axis.set_ylabel("seconds, end to end")
    axis.set_title(f"dbt builds at scale {scale}")
    axis.legend(fontsize=8)
    plt.setp(axis.get_xticklabels(), rotation=30, ha="right")
    written.append(_save(figure, output / f"{scale}-builds.png"))

    figure, axis = plt.subplots(figsize=(8, 4))
    views = list(results["refresh"]["ours"])
    ours = [results["refresh"]["ours"][view]["p50_s"] for view in views]
    limit = results["naive"]["time_limit_s"]
    base = [results["refresh"]["naive"][view].get("p50_s") or limit for view in views]
    positions = range(len(views))
    axis.bar([p - 0.2 for p in positions], ours, 0.4, label="ours", color="#1f77b4")
    axis.bar([p + 0.2 for p in positions], base, 0.4, label="naive", color="#ff7f0e")
    axis.set_xticks(list(positions), views)
    axis.set_yscale("log")
    axis.set_ylabel("median seconds (log scale)")
    axis.set_title(f"Materialized view refreshes at scale {scale}")
    axis.legend(fontsize=8)
    written.append(_save(figure, output / f"{scale}-refresh.png"))

    figure, axis = plt.subplots(figsize=(9, 4.5))
    tables = sorted(
        (t for t in results["storage"]["tables"] if t["schema"] in ("analytics", "analytics_internal", "naive")),
        key=lambda t: t["table_bytes"] + t["index_bytes"], reverse=True,
    )[:12]
    labels = [f"{t['schema'].replace('analytics_internal', 'internal')}.{t['table']}" for t in tables]
    axis.barh(labels, [t["table_bytes"] / 2**20 for t in tables], label="table", color="#1f77b4")
    axis.barh(labels, [t["index_bytes"] / 2**20 for t in tables],
              left=[t["table_bytes"] / 2**20 for t in tables], label="indexes", color="#aec7e8")
    axis.invert_yaxis()
    axis.set_xlabel("MiB")
    axis.set_title(f"Largest tables at scale {scale}")
    axis.legend(fontsize=8)
    written.append(_save(figure, output / f"{scale}-storage.png"))

    runs = in_scaling_order(results, others)
    if len(runs) > 1:
        figure, axis = plt.subplots(figsize=(7, 4))
        scales, entries = [name for name, _ in runs], [entry for _, entry in runs]
        # separate runs, not a series: each point is labelled with what an appended hour brought
        axis.plot([entry["data"]["events"] for entry in entries], [build_1h_median(entry) or 0 for entry in entries],
                  marker="o", linestyle="none")
        for name, entry in zip(scales, entries):
            hours = entry["builds"].get("append_1h") or []
            per_hour = statistics.median(build["appended"]["events"] for build in hours) if hours else 0
            axis.annotate(f"{name}: {per_hour:,.0f} new events/h", (entry["data"]["events"], build_1h_median(entry) or 0),
                          textcoords="offset points", xytext=(6, -12), fontsize=8)
        axis.set_ylim(bottom=0)
        axis.set_xscale("log")
        axis.set_xlabel("events in the database (log scale)")
        axis.set_ylabel("incremental build after 1h, median s")
        axis.set_title("The incremental build against the size of the history")
        written.append(_save(figure, output / "scaling.png"))
    return written


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path
