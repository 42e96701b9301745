"""One benchmark run, step by step, in the order that keeps each measurement fair: the builds
first (from nothing, then incremental), the scheduled functions, the naive baseline beside
ours, the dashboard queries on both, then what only reads or adds rows last."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime

from agent_analytics import db, dbt
from agent_analytics.bench import (
    alerts,
    baseline,
    builds,
    concurrency,
    indexes,
    ingestion,
    machine,
    maintenance,
    plans,
    plots,
    queries,
    storage,
)
from agent_analytics.bench.data import run_database, seed_alerts
from agent_analytics.bench.options import BenchOptions
from agent_analytics.bench.results import Aggregation, BenchResults, LoadWindow, Refresh
from agent_analytics.progress import Progress


def run(server: db.Server, options: BenchOptions, progress: Progress) -> BenchResults:
    """The whole benchmark, in databases of its own on `server`; returns what it measured."""
    options.check()
    plots.require_matplotlib()  # before the run, not after it
    started = time.monotonic()
    with run_database(server, options, progress) as bench:
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        described = machine.describe(bench)
        scans_before = indexes.index_scans(bench)
        timed_builds, data_end = builds.timed_builds(bench, options, progress)
        our_aggregation = maintenance.our_aggregation(bench, progress)
        our_refreshes = maintenance.our_refreshes(bench, options.refresh_repeat, progress)
        seed_alerts(bench)
        naive = baseline.naive_baseline(bench, options, progress)
        dashboard_queries = queries.load_queries()
        with bench.connect() as conn:
            parameters = queries.sample_parameters(conn, max(options.repeat, 50), options.seed)
        dashboard = queries.dashboard(bench, dashboard_queries, parameters, options.repeat, progress)
        explained = plans.explain_all(bench, dashboard_queries, parameters[0], progress)
        under_load = load_window = None
        if options.load_seconds:
            load_started = db.server_now(bench.target)
            under_load = concurrency.concurrency(bench, dashboard_queries, parameters, options.load_seconds, progress,
                                                 clients=options.load_clients, rounds=options.load_rounds,
                                                 transactions=options.load_transactions)
            load_window = LoadWindow(started_at=load_started.isoformat(timespec="seconds"),
                                     ended_at=db.server_now(bench.target).isoformat(timespec="seconds"))
        index_report = indexes.index_report(bench, scans_before)
        sizes = storage.storage(bench, data_end)
        rates = ingestion.ingestion(bench, options, progress)
        retention = maintenance.retention(bench)
        evaluation = alerts.alert_evaluation(bench.target, options.refresh_repeat, options.naive_limit, progress,
                                             at=datetime.fromisoformat(data_end))
        return BenchResults(
            scale=options.scale_name,
            label=options.label,
            seed=options.seed,
            build_command=list(dbt.SCHEDULED_BUILD),
            started_at=started_at,
            options=options.recorded(),
            data=dataclasses.replace(bench.data, data_end_after_appends=data_end),
            machine=described,
            builds=timed_builds,
            aggregation=Aggregation(ours=our_aggregation, naive=naive.aggregation),
            refresh=Refresh(ours=our_refreshes, naive=naive.refresh),
            naive=naive.baseline,
            dashboard=dashboard,
            explain=explained,
            indexes=index_report,
            storage=sizes,
            ingestion=rates,
            retention=retention,
            alerts=evaluation,
            concurrency=under_load,
            load_window=load_window,
            seconds=round(time.monotonic() - started, 1),
        )
