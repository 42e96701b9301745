"""The dashboard queries under concurrent load without the rest of the benchmark
(./scripts/measure-dashboard-load): generated data with the spec's SQL (schema naive, filled the
way the benchmark fills it) beside ours, on a Supabase-like cluster of its own, removed afterwards.
Prints the section's table; with an output folder, also writes it there as <scale>-load.md with
the plot <scale>-load.png."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent_analytics import cluster, db, dbt, generate, moved_clock, naive
from agent_analytics.bench import concurrency, options, plots, queries, report
from agent_analytics.bench.data import RunDatabase
from agent_analytics.errors import AgentAnalyticsError


@dataclass(frozen=True)
class LoadRun:
    scale: str
    seconds: int
    clients: tuple[int, ...]
    queries: frozenset[str] | None  # None: every dashboard query
    output: Path | None
    rounds: int
    at: moved_clock.ClockTarget | None  # what the run's server clock is moved to; None: the machine's


def parse(argv: Sequence[str]) -> LoadRun:
    parser = argparse.ArgumentParser(
        prog="measure-dashboard-load", description=__doc__,
        epilog="example: ./scripts/measure-dashboard-load large 2 1,8,32 all docs/performance 3 --at 'Mon 21:00'")
    parser.add_argument("scale", nargs="?", default="medium", choices=sorted(generate.SCALES))
    parser.add_argument("seconds", nargs="?", type=int, default=5, help="pgbench seconds per cell")
    parser.add_argument("clients", nargs="?", default=",".join(map(str, options.LOAD_CLIENTS)),
                        help="client counts, e.g. 1,8,32")
    parser.add_argument("queries", nargs="?", default="all", help="query names, comma-separated, or all")
    parser.add_argument("output", nargs="?", default="-", help="folder for <scale>-load.md and .png, or -")
    parser.add_argument("rounds", nargs="?", type=int, default=options.BenchOptions.load_rounds,
                        help="runs of each cell, the callers taking turns")
    parser.add_argument("--at", metavar="'[DAY] HH:MM'", help=(
        "start the run's server with its clock moved ahead to this UTC time of day, on this weekday if "
        "one is given (libfaketime): the live hour and day compute the UTC day so far from the raw rows, "
        "so their cost depends on the hour, and a user's recent events open a third weekly partition on "
        "Sundays. The load begins once the data are generated and built, about half an hour later at "
        "large: choose the time that much earlier"))
    args = parser.parse_intermixed_args(argv)
    try:
        clients = tuple(int(count) for count in args.clients.split(","))
    except ValueError:
        parser.error(f"clients {args.clients!r}: write counts separated by commas, e.g. 1,8,32")
    known = {query.name for query in queries.load_queries()}
    wanted = None if args.queries == "all" else frozenset(args.queries.split(","))
    if wanted is not None and not wanted <= known:
        parser.error(f"no dashboard query named {', '.join(sorted(wanted - known))}; known: {', '.join(sorted(known))}")
    if args.seconds < 1 or args.rounds < 1 or min(clients) < 1:
        parser.error("seconds, rounds and every client count must be at least 1")
    at = None
    if args.at is not None:
        try:
            at = moved_clock.parse_target(args.at)
        except moved_clock.ClockError as error:
            parser.error(str(error))
    return LoadRun(args.scale, args.seconds, clients, wanted, None if args.output == "-" else Path(args.output),
                   args.rounds, at)


def measure(run: LoadRun) -> None:
    folder = Path(tempfile.mkdtemp(prefix="aa-load-"))
    target_path = folder / "target"
    offset = None if run.at is None else moved_clock.offset_to(run.at, datetime.now(UTC))
    server = cluster.Cluster(cluster.binaries_named("machine" if cluster.machine_binaries() else "embedded"),
                             folder / "data", folder / "run", throwaway=True, clock_offset=offset)

    def progress(stage: str, done: int, total: int | None, rows: int) -> None:
        print(f"  {stage}: {done}/{total}", flush=True)

    try:
        if offset is not None:
            print(f"the server's clock moves {offset.total_seconds() / 3600:.2f} h ahead, to {run.at}",
                  flush=True)
        server.create()
        data_end = db.server_now(server.server().admin)
        if offset is not None:
            moved_clock.check_moved(data_end, offset, datetime.now(UTC))
        database, counts = generate.demo_database(
            server.server(), "aa_load",
            generate.GenerateOptions(scale=generate.SCALES[run.scale], seed=20, end=data_end),
            dbt_args=("--target-path", str(target_path)),
        )
        print(f"{run.scale}: {counts}", flush=True)
        dbt.run_dbt([*dbt.SCHEDULED_BUILD, "--target-path", str(target_path)], database.project, capture=True)
        with db.connect(database.project) as conn:
            naive.install(conn, progress)
            naive.copy_unfilled_tables(conn)
            naive.fill_views(conn, 600, progress)
            conn.execute("vacuum analyze")
            parameters = queries.sample_parameters(conn, 50, 42)
        chosen = [query for query in queries.load_queries() if run.queries is None or query.name in run.queries]
        started = db.server_now(database.project)
        load = concurrency.concurrency(RunDatabase(database.project, None, target_path), chosen, parameters,
                                       run.seconds, progress, clients=run.clients, rounds=run.rounds)
        ended = db.server_now(database.project)
        table = "\n".join(report.load_table(load, run.seconds, run.rounds,
                                             report.load_clock_line(data_end, started, ended, offset,
                                                                    "start it earlier (--at)")))
        print(table)
        if run.output is not None:
            (run.output / f"{run.scale}-load.md").write_text(f"# {run.scale}: {counts}\n\n{table}", encoding="utf-8")
            print(plots.load_plot(load, run.scale, run.output / f"{run.scale}-load.png"))
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def writable_folder(folder: Path) -> None:
    """Made and tried before the run, not after: at large the run takes most of an hour."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise AgentAnalyticsError(f"the output folder {folder} cannot be written to: {error.strerror or error}") from error


def main(argv: Sequence[str] | None = None) -> int:
    run = parse(list(sys.argv[1:] if argv is None else argv))
    try:
        if run.at is not None:
            moved_clock.library()
        if run.output is not None:
            writable_folder(run.output)
        measure(run)
    except AgentAnalyticsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
