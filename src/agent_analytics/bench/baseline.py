"""The naive baseline of a run: the spec's SQL in schema naive (naive.py) on the same data,
its daily job for every day, its views filled under the time limit, and their refreshes."""

from __future__ import annotations

import time
from typing import NamedTuple

from agent_analytics import naive
from agent_analytics.bench import maintenance
from agent_analytics.bench.data import RunDatabase
from agent_analytics.bench.options import BenchOptions
from agent_analytics.bench.results import AggregationTiming, NaiveBaseline, RefreshTiming, summary
from agent_analytics.progress import Progress


class BaselineResults(NamedTuple):
    baseline: NaiveBaseline
    aggregation: AggregationTiming
    refresh: dict[str, RefreshTiming]


def naive_baseline(bench: RunDatabase, options: BenchOptions, progress: Progress) -> BaselineResults:
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
    recent = set(maintenance.recent_days(bench))
    aggregation = AggregationTiming(
        days=[day.isoformat() for day, _ in daily if day in recent],
        timings=summary([seconds for day, seconds in daily if day in recent]),
        all_days=summary([seconds for _, seconds in daily]),
        computes="9 of the 30 columns, for workspaces with runs that day (active_users is total_users, S4a)",
    )
    populated = tuple(view for view, seconds in filled.items() if seconds is not None)
    refresh = maintenance.refreshes(
        bench, "naive", None, None, options.refresh_repeat, progress, limit=options.naive_limit, views=populated
    )
    baseline = NaiveBaseline(
        load_seconds=round(loaded, 1),
        copied_from_ours=copied,
        time_limit_s=options.naive_limit,
        first_fill_s={view: None if seconds is None else round(seconds, 3) for view, seconds in filled.items()},
    )
    return BaselineResults(baseline, aggregation, refresh)
