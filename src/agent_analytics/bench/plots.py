"""The benchmark's PNG plots: dashboard latencies, the dashboard queries under load, builds,
refreshes, the largest tables, and the incremental build across the runs of the output
folder. matplotlib comes with the [bench] extra, and is imported only here, when a run draws."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from agent_analytics.bench.options import BenchError
from agent_analytics.bench.results import BenchResults, LoadResults
from agent_analytics.bench.scaling import ScalingPoint, in_scaling_order


def require_matplotlib() -> ModuleType:
    """matplotlib's pyplot, drawing to files; a clear error when the extra is missing."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError as error:
        raise BenchError("the benchmark draws its plots with matplotlib: pip install 'agent-analytics[bench]'") from error
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def write_plots(results: BenchResults, others: dict[str, ScalingPoint], output: Path) -> list[Path]:
    plt = require_matplotlib()
    label = results.label
    written = [_dashboard(plt, results, output / f"{label}-dashboard.png")]
    if results.concurrency:
        written.append(load_plot(results.concurrency, results.label, output / f"{label}-load.png"))
    written += [
        _builds(plt, results, output / f"{label}-builds.png"),
        _refreshes(plt, results, output / f"{label}-refresh.png"),
        _storage(plt, results, output / f"{label}-storage.png"),
    ]
    points = in_scaling_order(ScalingPoint.of(results), others)
    if len(points) > 1:
        written.append(_scaling(plt, points, output / "scaling.png"))
    return written


def _dashboard(plt: Any, results: BenchResults, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(9, 0.45 * len(results.dashboard) + 2.5))
    names = [entry.name for entry in results.dashboard]
    series = [("ours", "member", "#1f77b4"), ("naive", "member", "#ff7f0e"),
              ("ours", "service", "#aec7e8"), ("naive", "service", "#ffbb78")]
    height = 0.2
    for offset, (side, role, color) in enumerate(series):
        timings = [getattr(entry, side).get(role) for entry in results.dashboard]
        values = [(timing.timings.p95 if timing else None) or 0 for timing in timings]
        axis.barh([index + (offset - 1.5) * height for index in range(len(names))], values, height,
                  label=f"{side}, {role}", color=color)
    axis.axvline(10, color="red", linestyle="--", linewidth=1, label="10 ms aim")
    axis.set_xscale("log")
    axis.set_yticks(range(len(names)), names)
    axis.invert_yaxis()
    axis.set_xlabel("p95 latency, ms (log scale)")
    axis.set_title(f"Dashboard queries at scale {results.label}")
    axis.legend(loc="lower right", fontsize=8)
    return _save(plt, figure, path)


# caller -> (label, colour); the protocol is the line's style
LOAD_SERIES = {"ours-member": ("ours, member", "#1f77b4"), "ours-service": ("ours, service_role", "#2ca02c"),
               "naive": ("naive (spec), service_role", "#ff7f0e")}
LOAD_STYLES = {"prepared": "-", "simple": "--"}


def load_plot(load: LoadResults, label: str, path: Path) -> Path:
    """One panel per query: TPS against the client count, a line per caller and protocol."""
    plt = require_matplotlib()
    names = list(load)
    columns = 4
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for axis, name in zip(axes.flat, names, strict=False):
        for caller, by_protocol in load[name].items():
            caller_label, color = LOAD_SERIES[caller]
            for protocol, by_clients in by_protocol.items():
                points = sorted((int(count), timing.tps) for count, timing in by_clients.items() if timing.tps)
                if points:
                    axis.plot([count for count, _ in points], [tps for _, tps in points], LOAD_STYLES[protocol],
                              color=color, marker="o", markersize=3, label=f"{caller_label}, {protocol}")
        counts = sorted({int(count) for by_protocol in load[name].values() for by_clients in by_protocol.values()
                         for count in by_clients})
        axis.set_xscale("log", base=2)
        axis.set_xticks(counts, [str(count) for count in counts])
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("clients", fontsize=8)
        axis.set_ylabel("TPS", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.set_ylim(bottom=0)
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    figure.suptitle(f"Dashboard queries under load at scale {label} (pgbench; solid: prepared, dashed: simple)")
    # room below for the shared legend; nineteen panels at 110 dpi were half a megabyte
    return _save(plt, figure, path, dpi=80, area=(0, 0.05, 1, 0.97))


def _builds(plt: Any, results: BenchResults, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(9, 4))
    builds = results.builds
    labels, values = ["from nothing", "nothing new"], [builds.full.seconds, builds.no_change.seconds]
    for appended, title in ((builds.append_1h, "+1h"), (builds.append_1d, "+1d")):
        for number, build in enumerate(appended, start=1):
            labels.append(f"{title} #{number}")
            values.append(build.seconds)
    axis.bar(labels, values, color="#1f77b4")
    axis.axhline(30, color="red", linestyle="--", linewidth=1, label="30 s aim for +1h")
    axis.set_ylabel("seconds, end to end")
    axis.set_title(f"dbt builds at scale {results.label}")
    axis.legend(fontsize=8)
    plt.setp(axis.get_xticklabels(), rotation=30, ha="right")
    return _save(plt, figure, path)


def _refreshes(plt: Any, results: BenchResults, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(8, 4))
    views = list(results.refresh.ours)
    ours = [results.refresh.ours[view].timings.p50 for view in views]
    limit = results.naive.time_limit_s
    base = [results.refresh.naive[view].timings.p50 or limit for view in views]
    positions = range(len(views))
    axis.bar([p - 0.2 for p in positions], ours, 0.4, label="ours", color="#1f77b4")
    axis.bar([p + 0.2 for p in positions], base, 0.4, label="naive", color="#ff7f0e")
    axis.set_xticks(list(positions), views)
    axis.set_yscale("log")
    axis.set_ylabel("median seconds (log scale)")
    axis.set_title(f"Materialized view refreshes at scale {results.label}")
    axis.legend(fontsize=8)
    return _save(plt, figure, path)


def _storage(plt: Any, results: BenchResults, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(9, 4.5))
    tables = sorted(
        (t for t in results.storage.tables if t.schema in ("analytics", "analytics_internal", "naive")),
        key=lambda t: t.table_bytes + t.index_bytes, reverse=True,
    )[:12]
    labels = [f"{t.schema.replace('analytics_internal', 'internal')}.{t.table}" for t in tables]
    axis.barh(labels, [t.table_bytes / 2**20 for t in tables], label="table", color="#1f77b4")
    axis.barh(labels, [t.index_bytes / 2**20 for t in tables],
              left=[t.table_bytes / 2**20 for t in tables], label="indexes", color="#aec7e8")
    axis.invert_yaxis()
    axis.set_xlabel("MiB")
    axis.set_title(f"Largest tables at scale {results.label}")
    axis.legend(fontsize=8)
    return _save(plt, figure, path)


def _scaling(plt: Any, points: list[ScalingPoint], path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(7, 4))
    # separate runs, not a series: each point is labelled with what an appended hour brought
    axis.plot([point.events for point in points], [point.build_1h_median or 0 for point in points],
              marker="o", linestyle="none")
    for point in points:
        axis.annotate(f"{point.label}: {point.events_per_hour or 0:,.0f} new events/h",
                      (point.events, point.build_1h_median or 0),
                      textcoords="offset points", xytext=(6, -12), fontsize=8)
    axis.set_ylim(bottom=0)
    axis.set_xscale("log")
    axis.set_xlabel("events in the database (log scale)")
    axis.set_ylabel("incremental build after 1h, median s")
    axis.set_title("The incremental build against the size of the history")
    return _save(plt, figure, path)


def _save(plt: Any, figure: Any, path: Path, dpi: int = 110,
          area: tuple[float, float, float, float] = (0, 0, 1, 1)) -> Path:
    figure.tight_layout(rect=area)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path
