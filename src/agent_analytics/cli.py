"""agent-analytics: set up, build and inspect the analytics schema."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shlex
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent_analytics import bench, bootstrap, cron_cli, db, dbt, demo_data, erasure, generate, lock, report
from agent_analytics.alerts import cli as alerts_cli
from agent_analytics.alerts import demo as alerts_demo
from agent_analytics.dashboard import cli as dashboard_cli
from agent_analytics.errors import AgentAnalyticsError
from agent_analytics.steps import Steps
from agent_analytics.worker import cli as worker_cli


def _parse_end(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--end must be an ISO timestamp such as 2026-11-24T12:00:00Z, not {text!r}") from error
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _duration(text: str):
    try:
        return generate.parse_duration(text)
    except generate.GeneratorError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _client_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        counts = ()
    if not counts or any(count < 1 for count in counts):
        raise argparse.ArgumentTypeError(f"{text!r}: give client counts as whole numbers, comma-separated (1,8,32)")
    return counts


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-analytics",
        description="Build and run the analytics schema of a Supabase agent platform. "
        "Uses the database the PG* variables name, else an embedded PostgreSQL in .pgdata/.",
    )
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {importlib.metadata.version('agent-analytics')}")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser(
        "up", help="set up everything and build (the README's first command)",
        description="Starts the embedded server (unless PG* variables name a database), makes the demo app where "
        "there is no app, generates demo data where it is empty, deploys and builds. Data already there is kept "
        "and built: `agent-analytics reset` starts over.",
    )
    up.add_argument("--scale", choices=sorted(generate.SCALES),
                    help=f"demo data size (default {DEFAULT_SCALE}); only for a database without demo data")
    up.add_argument("--seed", type=int, help=f"demo data seed (default {DEFAULT_SEED})")
    up.add_argument("-v", "--verbose", action="store_true",
                    help="show dbt's log, the generator's progress and the table of what was built")

    deploy = commands.add_parser(
        "deploy", help="as the database owner: create or upgrade the analytics schema (run once per version)",
        description="Makes everything that is not a dbt model (the build role, schemas, the views through which "
        "the build reads the app, the tables the app writes, functions, policies, grants), as the connecting "
        "user, who must be the database owner (on Supabase: postgres). A re-run changes nothing; an upgrade "
        "applies what changed.",
    )
    deploy.add_argument("--force", action="store_true", help="apply every step, also those already in place")
    deploy.add_argument("--migration-file", type=Path, metavar="FOLDER",
                        help="write the deploy as FOLDER/<timestamp>_analytics.sql (for supabase db push) "
                        "instead of applying it")

    commands.add_parser(
        "bootstrap", help="make the demo app where there is no app (and Supabase's roles on a plain server), then deploy",
    )

    gen = commands.add_parser("generate", help="fill the stand-in app and user_activity with generated data")
    gen.add_argument("--scale", choices=sorted(generate.SCALES), default="small", help="data size (see README)")
    gen.add_argument("--seed", type=int, help="same seed, same data (default 42; an append reuses the first seed)")
    gen.add_argument("--days", type=_positive, help="days of data (default: the scale's)")
    gen.add_argument("--end", type=_parse_end, help="last moment of data (default: now)")
    gen.add_argument("--append", type=_duration, metavar="DURATION",
                     help="add the next stretch after the last data (1h, 1d, 90m; it ends now at the latest), "
                     "late events included")
    gen.add_argument("--allow-real-app", action="store_true", help="generate even into a database with a real app")

    commands.add_parser("build", help="the scheduled build: dbt build as the build role, without unit tests "
                        "(further arguments go to dbt)")

    benchmark = commands.add_parser(
        "bench", help="benchmark queries, builds, refreshes, storage and ingestion against the spec's naive SQL",
        description="Runs in databases of its own (aa_bench_<scale>...) on the server in use and drops them "
        "afterwards; writes <scale>.json, <scale>.md and plots to the output folder.",
    )
    benchmark.add_argument("--scale", choices=sorted(generate.SCALES), default="medium", help="data size (see README)")
    benchmark.add_argument("--seed", type=int, default=42, help="data and sampling seed")
    benchmark.add_argument("--days", type=_positive,
                           help="days of history (default: the scale's); the results are named <scale>-<days>d")
    benchmark.add_argument("--repeat", type=_positive, default=50,
                           help="executions of each dashboard query per role and schema (default 50)")
    benchmark.add_argument("--builds", type=_positive, default=3,
                           help="incremental builds after --append 1h (default 3; one after --append 1d follows)")
    benchmark.add_argument("--refresh-repeat", type=_positive, default=3, help="refreshes of each view (default 3)")
    benchmark.add_argument("--output", type=Path, default=Path("bench-results"), help="folder for the results")
    benchmark.add_argument("--naive-limit", type=_positive, default=600,
                           help="seconds any one statement of the naive baseline may run (default 600)")
    benchmark.add_argument("--load-seconds", type=int, default=5,
                           help="seconds of pgbench per query, caller, protocol and client count in the "
                           "concurrency section (default 5; 0 leaves the section out)")
    benchmark.add_argument("--load-clients", type=_client_counts, default=bench.options.LOAD_CLIENTS,
                           help="pgbench client counts of the concurrency section, comma-separated (default 1,8,32)")
    benchmark.add_argument("--load-rounds", type=_positive, default=3,
                           help="runs of each cell of the concurrency section, the callers taking turns; TPS is "
                           "their median (default 3)")
    benchmark.add_argument("--load-transactions", type=_positive,
                           help="pgbench transactions per client in each cell of the concurrency section instead of "
                           "--load-seconds: a quick run of the section, whose figures are no measurement")
    benchmark.add_argument("--keep", action="store_true",
                           help="keep the generated data (aa_bench_<scale>) so that the next run reuses it")

    erase = commands.add_parser(
        "erase-user",
        help="erase a person on request: their events now, every row keyed by them after the build that follows",
    )
    erase.add_argument("user_id", type=uuid.UUID, help="the person's id (auth.users / public.users)")
    erase.add_argument("--no-build", action="store_true",
                       help="leave the rest to the next scheduled build instead of building now")

    alerts_cli.add_commands(commands)
    worker_cli.add_commands(commands)
    dashboard_cli.add_commands(commands)
    status = commands.add_parser("status", help="the pipeline's health (each step's last run, the data lag) and the "
                                 "analytics objects with their row counts")
    status.add_argument("--json", action="store_true", help="the pipeline's health as JSON, for programs")
    cron_cli.add_commands(commands)
    commands.add_parser("env", help="print the PG* variables that reach the database (for dbt and psql)")
    commands.add_parser("psql", help="run psql on the database in use (further arguments go to psql)")
    commands.add_parser("stop", help="stop the embedded PostgreSQL (its data stays in .pgdata/)")
    reset = commands.add_parser(
        "reset", help="start over: stop the embedded PostgreSQL and delete its data folder (.pgdata/)",
        description="Deletes the embedded server's data folder after asking; a database that the PG* "
        "variables name is never touched.",
    )
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in PASSTHROUGH:
        # Everything after `build` or `psql` belongs to dbt or psql, options included.
        args = parser.parse_args(argv[:1])
        setattr(args, PASSTHROUGH[argv[0]], [arg for arg in argv[1:] if arg != "--"])
    else:
        args = parser.parse_args(argv)
    console = _console()
    # Errors go to stderr: stdout may be read by a program (`eval "$(agent-analytics env)"`).
    errors = _console(stderr=True)
    previous_handler = _interrupt_this_process_only()
    try:
        with _exclusive(args.command):
            return COMMANDS[args.command](args, console)
    except AgentAnalyticsError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False)
        return 1
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, previous_handler)


def _interrupt_this_process_only():
    """Ctrl-C signals every process of the terminal's foreground group, the generator's forked
    workers too, and each of them printed its traceback. The handler, which forked workers
    inherit, interrupts this process only; the workers end when their pool is closed on the way
    out. Programs this process runs (dbt, pg_ctl, psql) get their default handling back when
    they start. A process started with Ctrl-C ignored (a background job of a script) keeps
    ignoring it. Returns the handler it replaced."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return signal.SIG_IGN
    main_pid = os.getpid()

    def interrupt(_signum: int, _frame: object) -> None:
        if os.getpid() == main_pid:
            raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, interrupt)


# Commands that change the project's embedded server or its database: one at a time.
EXCLUSIVE = {"up", "bootstrap", "generate", "reset"}


def _exclusive(command: str) -> AbstractContextManager[None]:
    """The project's lock for the commands that need it, beside the embedded data folder. A
    command on a database the PG* variables name elsewhere does not touch the embedded server:
    it neither waits for nor holds up one that does (a test run beside `up` in CI)."""
    if command not in EXCLUSIVE:
        return nullcontext()
    project = dbt.project_dir()
    on_embedded = not db.database_is_configured(os.environ) or db.names_embedded(project, os.environ)
    if command != "reset" and not on_embedded:
        return nullcontext()
    return lock.exclusive(db.embedded_data_dir(project).parent, command)


def _console(stderr: bool = False) -> Console:
    """A console that wraps lines for a terminal only: piped output keeps each message on one
    line, so that grep finds it. Rich writes no escape codes where the output is not a
    terminal (unless FORCE_COLOR asks); with NO_COLOR set it writes no styles at all."""
    console = Console(stderr=stderr, color_system=None if os.environ.get("NO_COLOR") else "auto")
    console.soft_wrap = not console.is_terminal
    return console


def _up(args: argparse.Namespace, console: Console) -> int:
    started = time.monotonic()
    steps = Steps(console, spinner=console.is_terminal and not args.verbose)
    with steps.step("starting the database") as step:
        server = _server(console, quiet=True)
        step.done = f"using {server.project.describe()}"
    with db.connect(server.admin) as conn:
        found = demo_data.existing(conn)
    if found and found.differs_from(args.scale, args.seed):
        raise demo_data.DataExists(_data_exists_message(found, args, server.project))
    with steps.step("deploying the analytics schema") as step:
        real_app = bootstrap.prepare_demo_database(server)
        app = "public has a real app: left untouched, no demo data" if real_app else "demo app ready"
        step.done = f"{app}; analytics schema deployed as {server.project.user}"
    if found:
        console.print(f"  kept the demo data already there ({found.describe()}); {_start_over(server.project)}",
                      highlight=False)
    elif not real_app:
        scale, seed = args.scale or DEFAULT_SCALE, DEFAULT_SEED if args.seed is None else args.seed
        with steps.step(f"generating demo data (scale {scale}, seed {seed})") as step, \
                db.connect(server.admin) as conn:
            options = generate.GenerateOptions(scale=generate.SCALES[scale], seed=seed)
            counts = _generate(conn, options, console, show_progress=args.verbose)
            step.done = f"generated demo data (scale {scale}, seed {seed}): {_counted(counts)}"
    with steps.step("dbt build as the build role (models, their tests, RLS and grants)") as step:
        output = dbt.run_dbt(["build"], server.project, capture=not args.verbose).stdout
        step.done = "dbt build as the build role: " + (dbt.summary(output or "") or "done")
    if not real_app:
        with steps.step("demo alert rules, the last day evaluated") as step, db.connect(server.project) as conn:
            replay = alerts_demo.seed_and_replay(conn, datetime.now(UTC))
            step.done = ("demo alert rules kept" if replay is None else
                         f"{replay.rules} demo alert rules over the last day: fired {replay.fired}×, resolved "
                         f"{replay.resolved}× (agent-analytics alerts list)")
    if args.verbose:
        _print_status(server.project, console)
    else:
        _print_figures(server.project, console)
    _print_next_steps(server.project, console)
    console.print(f"done in {time.monotonic() - started:.0f} s", highlight=False)
    return 0


def _counted(counts: generate.Counts) -> str:
    return (f"{counts.workspaces:,} workspaces, {counts.users:,} users, {counts.agents:,} agents, "
            f"{counts.runs:,} runs, {counts.events:,} events")


def _data_exists_message(found: demo_data.DemoData, args: argparse.Namespace, target: db.Connection) -> str:
    asked = " ".join(f"--{name} {value}" for name, value in (("scale", args.scale), ("seed", args.seed))
                     if value is not None)
    return (f"{target.describe()} already holds demo data ({found.describe()}), so {asked} would not be applied: "
            f"up keeps the data it finds and builds it (run it without {asked} to do that). "
            + _start_over(target, asked))


def _start_over(target: db.Connection, asked: str = "") -> str:
    if target.embedded:
        return f"to start over, run `agent-analytics reset`, then `agent-analytics up{' ' + asked if asked else ''}`"
    return "to start over, point the PG* variables at a database without the demo app"


def _deploy(args: argparse.Namespace, console: Console) -> int:
    target = _target(console)
    if args.migration_file:
        path = bootstrap.write_migration(target, args.migration_file)
        console.print(f"wrote {path}: apply it with `supabase db push` (or psql, as the database owner)",
                      highlight=False)
        return 0
    output = bootstrap.deploy(target, force=args.force)
    for line in output.splitlines():
        if "deploy:" in line:
            console.print(line.split("deploy:", 1)[1].strip(), highlight=False)
    return 0


def _bootstrap(args: argparse.Namespace, console: Console) -> int:
    _prepare(_server(console), console)
    return 0


def _generate_command(args: argparse.Namespace, console: Console) -> int:
    server = _server(console)
    with db.connect(server.admin) as conn:
        if args.append:
            if args.days or args.end:
                raise generate.GeneratorError("--append continues from the last data: it takes no --days or --end")
            started = time.monotonic()
            with _progress(console) as report:
                counts = generate.append(conn, args.append, args.seed, args.allow_real_app, report)
            console.print(
                f"appended {counts.events:,} events ({counts.late_events:,} of them late), {counts.runs:,} runs, "
                f"and updated {counts.runs_updated:,} earlier runs in {time.monotonic() - started:.1f} s"
            )
        else:
            options = generate.GenerateOptions(
                scale=generate.SCALES[args.scale], seed=42 if args.seed is None else args.seed, days=args.days,
                end=args.end or datetime.now(UTC), allow_real_app=args.allow_real_app,
            )
            _generate(conn, options, console)
    return 0


def _build(args: argparse.Namespace, console: Console) -> int:
    from agent_analytics.worker import health, locks

    target = _target(console)
    # the worker's lock: never two builds at once, whichever command or machine starts them
    with db.connect(target) as conn, locks.holding(conn, "build"):
        # recorded as the worker's builds are, where the deploy has the table (an older one
        # fails the build itself, with the command that fixes it)
        run_id = None
        if health.is_deployed(conn):
            # a build killed before it could record its end left its run `running`
            health.abandon_orphans(conn, "build")
            run_id = health.started(conn, "build", f"agent-analytics build {health.worker_name()}")
        try:
            dbt.run_dbt([*dbt.SCHEDULED_BUILD, *args.dbt_args], target)
        except BaseException as error:
            outcome = "failed" if isinstance(error, Exception) else "abandoned"
            _record_build_end(conn, run_id, outcome, str(error) or type(error).__name__)
            raise
        _record_build_end(conn, run_id, "succeeded")
    return 0


def _record_build_end(conn, run_id: int | None, outcome: str, error: str | None = None) -> None:
    """The end of a recorded build, unless the connection went with the server (a restart
    during the build): then the next build marks the run abandoned, and the build's own error
    is what the user needs to see."""
    from agent_analytics.worker import health

    if run_id is None:
        return
    try:
        health.ended(conn, run_id, outcome, error=error)
    except psycopg.OperationalError:
        pass


def _erase_user(args: argparse.Namespace, console: Console) -> int:
    done = erasure.erase_user(_target(console), args.user_id, build=not args.no_build)
    console.print(
        f"erased {done.user_id}: {done.events_deleted} events deleted; "
        + ("the build removed the rest" if done.built else "the next scheduled build removes the rest")
    )
    return 0


def _bench(args: argparse.Namespace, console: Console) -> int:
    server = _server(console)
    options = bench.BenchOptions(
        scale_name=args.scale, output=args.output, seed=args.seed, repeat=args.repeat, hourly_builds=args.builds,
        refresh_repeat=args.refresh_repeat, keep=args.keep, naive_limit=args.naive_limit, days=args.days,
        load_seconds=args.load_seconds, load_clients=args.load_clients, load_rounds=args.load_rounds,
        load_transactions=args.load_transactions,
    )
    with _progress(console) as report_progress:
        results = bench.run(server, options, report_progress)
    written = bench.report.write(results, args.output)
    console.print(f"benchmark done in {results.seconds:,.0f} s; wrote " + ", ".join(str(path) for path in written),
                  highlight=False)
    return 0


def _status(args: argparse.Namespace, console: Console) -> int:
    from agent_analytics.worker import health

    target = _target(console, quiet=args.json)
    if args.json:
        with db.connect(target) as conn:
            print(health.read(conn).as_json())
        return 0
    _print_health(target, console)
    _print_status(target, console)
    return 0


def _print_health(target: db.Connection, console: Console) -> None:
    from agent_analytics.worker import health

    try:
        with db.connect(target) as conn:
            found = health.read(conn)
    except health.HealthUnavailable as error:
        console.print(f"pipeline health: {error}", highlight=False)
        return
    table = Table(title="pipeline (agent-analytics worker)")
    for column in ("step", "last run", "outcome", "seconds", "rows", "next run", "failures in a row"):
        table.add_column(column, justify="right" if column in ("seconds", "rows", "failures in a row") else "left")
    for step in found.steps:
        seconds = (step.ended_at - step.started_at).total_seconds() if step.ended_at else None
        table.add_row(
            step.step, _moment(step.started_at), step.outcome + (f": {step.error}" if step.error else ""),
            "" if seconds is None else f"{seconds:,.1f}", "" if step.rows_written is None else f"{step.rows_written:,}",
            _moment(step.next_run_at), str(step.failures_in_a_row),
        )
    if found.steps:
        console.print(table)
    else:
        console.print("pipeline: no worker has run a step yet (`agent-analytics worker`)")
    oldest = min((moment for moment in (found.lag.oldest_pending_event_at, found.lag.oldest_pending_run_at)
                  if moment is not None), default=None)
    console.print(f"data lag: {found.lag.seconds:,.0f} s"
                  + (f" (oldest row not yet built: {_moment(oldest)})" if oldest else " (every row is built)"),
                  highlight=False)


def _moment(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%m-%d %H:%M:%S")


def _env(args: argparse.Namespace, console: Console) -> int:
    target = _target(console, quiet=True)
    for name, value in target.env().items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _psql(args: argparse.Namespace, console: Console) -> int:
    target = _target(console, quiet=True)
    executable = shutil.which("psql") or str(db.embedded_psql())
    os.execvpe(executable, [executable, *args.psql_args], {**os.environ, **target.env()})
    return 0  # not reached: psql replaces this process


def _stop(args: argparse.Namespace, console: Console) -> int:
    stopped = db.stop_embedded(dbt.project_dir())
    console.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    return 0


def _reset(args: argparse.Namespace, console: Console) -> int:
    project = dbt.project_dir()
    if db.database_is_configured(os.environ) and not db.names_embedded(project, os.environ):
        raise db.NotEmbedded(
            f"reset deletes the embedded server's data only, and the PG* variables name "
            f"{db.from_environment(os.environ).describe()}, which it leaves alone: unset them to reset the "
            "embedded server"
        )
    data_dir = db.embedded_data_dir(project)
    if not data_dir.exists():
        console.print(f"nothing to reset: {data_dir} does not exist", highlight=False)
        return 0
    if not args.yes and not _confirmed(console, f"Stop the embedded server and delete {data_dir} with all its data?"):
        console.print("nothing deleted", highlight=False)
        return 1
    db.reset_embedded(project)
    console.print(f"stopped the embedded server and deleted {data_dir}; `agent-analytics up` starts over",
                  highlight=False)
    return 0


def _confirmed(console: Console, question: str) -> bool:
    """A yes from stdin; no answer (end of input, as in a script) is a no."""
    console.print(f"{question} [y/N] ", end="", highlight=False, markup=False)
    try:
        answer = input()
    except EOFError:
        console.print()
        return False
    return answer.strip().lower() in {"y", "yes"}


def _target(console: Console, quiet: bool = False) -> db.Connection:
    return _server(console, quiet).project


def _server(console: Console, quiet: bool = False) -> db.Server:
    server = db.resolve_server(dbt.project_dir())
    if not quiet:
        console.print(f"using {server.project.describe()}", highlight=False)
    with db.connect(server.project):
        pass
    return server


def _prepare(server: db.Server, console: Console) -> bool:
    """The demo app where there is none, then the owner's deploy; True when the app is real."""
    real_app = bootstrap.prepare_demo_database(server)
    if real_app:
        console.print("public has a real app: leaving it untouched, no demo data")
    console.print(f"deployed the analytics schema as {server.project.user}; the build role is analytics_builder")
    return real_app


@contextmanager
def _progress(console: Console) -> Iterator[generate.Progress]:
    """A progress bar per stage, with rows written and rows per second."""
    columns = (
        TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:>12,} rows  {task.fields[rate]:>9,.0f} rows/s"), TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, tuple[object, float]] = {}

        def report(stage: str, done: int, total: int | None, rows: int) -> None:
            if stage not in tasks:
                tasks[stage] = (bar.add_task(stage, total=total, rows=0, rate=0.0), time.monotonic())
            task, started = tasks[stage]
            elapsed = time.monotonic() - started
            rate = rows / elapsed if elapsed > 0.05 else 0.0
            bar.update(task, completed=done, total=total, rows=rows, rate=rate)

        yield report


def _generate(conn, options: generate.GenerateOptions, console: Console,
              show_progress: bool = True) -> generate.Counts:
    started = time.monotonic()
    if not show_progress:
        return generate.generate(conn, options)
    with _progress(console) as report:
        counts = generate.generate(conn, options, report)
    seconds = time.monotonic() - started
    console.print(
        f"generated {counts.workspaces:,} workspaces, {counts.users:,} users, {counts.memberships:,} memberships, "
        f"{counts.agents:,} agents, {counts.runs:,} runs and {counts.events:,} events in {seconds:.1f} s "
        f"({counts.events / max(seconds, 1e-6):,.0f} events/s)"
    )
    return counts


def _print_status(target: db.Connection, console: Console) -> None:
    with db.connect(target) as conn:
        objects = report.analytics_objects(conn)
        functions = report.function_names(conn)
    table = Table(title="analytics schema")
    table.add_column("object")
    table.add_column("kind")
    table.add_column("rows", justify="right")
    for item in objects:
        table.add_row(item.name, item.kind, "" if item.rows is None else f"{item.rows:,}")
    console.print(table)
    console.print("functions: " + ", ".join(functions))


def _print_figures(target: db.Connection, console: Console) -> None:
    """The rows of what was built, in one paragraph (`status` prints the whole table)."""
    with db.connect(target) as conn:
        objects = report.analytics_objects(conn)
    counted = [f"{item.name} {item.rows:,}" for item in objects if item.rows is not None]
    console.print("rows in analytics: " + ", ".join(counted) + " (`agent-analytics status` lists every object)",
                  highlight=False)


def _print_next_steps(target: db.Connection, console: Console) -> None:
    console.print("\nLook at it (from the project directory):", highlight=False)
    console.print(
        "  .venv/bin/agent-analytics psql -c 'select * from analytics.daily_metrics "
        "where workspace_id is null order by metric_date'",
        highlight=False, soft_wrap=True,
    )
    console.print(
        '  eval "$(.venv/bin/agent-analytics env)" && .venv/bin/dbt docs generate && .venv/bin/dbt docs serve',
        highlight=False, soft_wrap=True,
    )
    if target.embedded:
        # the server outlives `up`: a newcomer should not have to find out from ps
        console.print("The embedded PostgreSQL keeps running: .venv/bin/agent-analytics stop stops it "
                      "(the data stays in .pgdata/).", highlight=False, soft_wrap=True)


# What `up` generates where there is no demo data yet.
DEFAULT_SCALE = "small"
DEFAULT_SEED = 42

# Commands whose unknown options belong to the program they run.
PASSTHROUGH = {"build": "dbt_args", "psql": "psql_args"}

COMMANDS = {
    "up": _up,
    "deploy": _deploy,
    "bootstrap": _bootstrap,
    "generate": _generate_command,
    "build": _build,
    "bench": _bench,
    "status": _status,
    "env": _env,
    "psql": _psql,
    "stop": _stop,
    "reset": _reset,
    "erase-user": _erase_user,
    "alerts": alerts_cli.main,
    "worker": worker_cli.main,
    "dashboard": dashboard_cli.main,
    "cron": cron_cli.main,
}


if __name__ == "__main__":
    sys.exit(main())
