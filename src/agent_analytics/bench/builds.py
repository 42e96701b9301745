"""dbt builds as the schedule runs them, timed end to end: from nothing, with nothing new, and
after each appended hour and day of data."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from agent_analytics import dbt, generate
from agent_analytics.bench.data import RunDatabase
from agent_analytics.bench.options import BenchOptions
from agent_analytics.bench.results import Appended, Build, Builds, SlowNode
from agent_analytics.progress import Progress

# The slowest nodes a build reports.
SLOWEST = 8


def timed_builds(bench: RunDatabase, options: BenchOptions, progress: Progress) -> tuple[Builds, str]:
    """A build from nothing, one with nothing new, then builds after appended hours and days;
    and where the data ends after the appends."""
    steps = 2 + options.hourly_builds + options.daily_builds
    progress("dbt builds", 0, steps, 0)
    full = timed_build(bench)
    progress("dbt builds", 1, steps, 1)
    no_change = timed_build(bench)
    progress("dbt builds", 2, steps, 2)
    done = 2
    appended: dict[str, list[Build]] = {}
    for label, duration, count in (("append_1h", timedelta(hours=1), options.hourly_builds),
                                   ("append_1d", timedelta(days=1), options.daily_builds)):
        appended[label] = []
        for _ in range(count):
            with bench.connect() as conn:
                started = time.monotonic()
                written = generate.append(conn, duration)
                generated = time.monotonic() - started
            build = timed_build(bench, Appended(
                events=written.events, late_events=written.late_events, runs=written.runs,
                runs_updated=written.runs_updated, seconds=round(generated, 2),
            ))
            appended[label].append(build)
            done += 1
            progress("dbt builds", done, steps, done)
    with bench.connect() as conn:
        data_end = conn.execute("select max(created_at) from analytics.user_activity").fetchone()[0]
    return Builds(full=full, no_change=no_change, **appended), data_end.isoformat(timespec="seconds")


def timed_build(bench: RunDatabase, appended: Appended | None = None) -> Build:
    """`dbt build` end to end, dbt's own start-up included, and its slowest nodes."""
    started = time.perf_counter()
    dbt.run_dbt([*dbt.SCHEDULED_BUILD, "--target-path", str(bench.target_path)], bench.target, capture=True)
    seconds = time.perf_counter() - started
    results = json.loads((bench.target_path / "run_results.json").read_text())
    slowest = sorted(results["results"], key=lambda node: node["execution_time"], reverse=True)[:SLOWEST]
    return Build(
        seconds=round(seconds, 2),
        dbt_elapsed=round(results["elapsed_time"], 2),
        nodes=len(results["results"]),
        slowest=[SlowNode(node=node["unique_id"].split(".", 2)[-1], seconds=round(node["execution_time"], 2))
                 for node in slowest],
        appended=appended,
    )
