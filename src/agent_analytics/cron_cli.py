"""`agent-analytics cron install | list | remove`: the arguments, and the calls they make."""

from __future__ import annotations

import argparse
import re

from rich.console import Console
from rich.table import Table

from agent_analytics import db, dbt, pg_cron


def add_commands(commands: argparse._SubParsersAction) -> None:
    cron = commands.add_parser(
        "cron", help="install, list or remove the in-database jobs as pg_cron jobs (docs/pg_cron.md)",
        description="Uses the database the PG* variables name, as the deploy's owner (on Supabase: postgres): "
        "pg_cron runs each job as the role that installed it.",
    )
    actions = cron.add_subparsers(dest="cron_command", required=True)
    install = actions.add_parser(
        "install", help="schedule retention, partition upkeep, view refresh and alert evaluation (again: "
        "updates what changed)",
        description="Schedules the jobs named agent-analytics-* as the connecting role (docs/pg_cron.md lists "
        "them and their default schedules). Safe to run again: it updates a job whose schedule or command "
        "changed and leaves the rest.",
    )
    install.add_argument("--schedule", type=_job_schedule, action="append", default=[], metavar="JOB=CRON",
                         help="another schedule for one job, e.g. refresh='*/5 * * * *' (repeatable; jobs: "
                         "retention, partitions, refresh, live, alerts)")
    listed = actions.add_parser("list", help="our jobs, their schedules and last runs")
    listed.add_argument("--json", action="store_true", help="JSON for programs instead of a table")
    actions.add_parser("remove",
                       help="unschedule the jobs named agent-analytics-* of the connecting role, and no other")


def main(args: argparse.Namespace, console: Console) -> int:
    target = db.resolve(dbt.project_dir())
    with db.connect(target) as conn:
        if args.cron_command == "install":
            # pg_cron and the role are checked before dbt renders the jobs, which takes seconds
            setup = pg_cron.check_pg_cron(conn)
            definitions = pg_cron.job_definitions(target, dict(args.schedule), setup=setup)
            _print_installed(pg_cron.install(conn, definitions), console)
        elif args.cron_command == "list":
            jobs = pg_cron.list_jobs(conn)
            if args.json:
                print(pg_cron.as_json(jobs))
            else:
                console.print(_table(jobs))
        else:
            removed = pg_cron.remove(conn)
            for job in removed:
                _say(console, f"removed {job.name} (job {job.jobid})")
            if not removed:
                _say(console, f"no {pg_cron.PREFIX}* job of {target.user} to remove")
    return 0


def _print_installed(result: pg_cron.InstallResult, console: Console) -> None:
    width = max((len(item.job.name) for item in result.jobs), default=0)
    for item in result.jobs:
        job = item.job
        _say(console, f"{item.change:<9} {job.name:<{width}}  {job.schedule:<12}  {_one_line(job.command)}")
    for note in result.notes:
        _say(console, f"note: {note}")
    _say(console, f"pg_cron runs them as {result.username} in database {result.database!r}; "
         "`agent-analytics cron list` shows their last runs")


def _table(jobs: list[pg_cron.Job]) -> Table:
    table = Table(title="pg_cron jobs")
    for column in ("job", "name", "schedule", "command", "role", "active", "last run", "status"):
        table.add_column(column)
    for job in jobs:
        run = job.last_run
        ended = (run.end_time or run.start_time) if run else None
        table.add_row(
            str(job.jobid), job.name, job.schedule, _one_line(job.command), job.username, "yes" if job.active else "no",
            f"{ended:%Y-%m-%d %H:%M:%S %Z}" if ended else "", _status(run),
        )
    return table


def _status(run: pg_cron.LastRun | None) -> str:
    if run is None:
        return "not run yet"
    if run.status == "failed" and run.return_message:
        return f"failed: {_one_line(run.return_message)}"
    return run.status


def _one_line(text: str) -> str:
    """A command or message on one line (the partition job's command spans four)."""
    return re.sub(r"\s*\n\s*", " ", text).replace("( ", "(").replace(" )", ")").strip()


def _say(console: Console, line: str) -> None:
    console.print(line, highlight=False, markup=False)


def _job_schedule(text: str) -> tuple[str, str]:
    key, _, schedule = text.partition("=")
    if not key.strip() or not schedule.strip():
        raise argparse.ArgumentTypeError(f"give JOB=CRON, such as refresh='*/5 * * * *', not {text!r}")
    return key.strip(), schedule.strip()
