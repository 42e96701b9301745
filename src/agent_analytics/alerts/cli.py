"""`agent-analytics alerts run | list`: the arguments, and the calls they make."""

from __future__ import annotations

import argparse

from rich.console import Console

from agent_analytics import db, dbt
from agent_analytics.alerts.settings import AlertSettings


def add_commands(commands: argparse._SubParsersAction) -> None:
    alerts = commands.add_parser(
        "alerts", help="evaluate the alert rules and deliver their notifications; list the rules",
        description="Uses the database the PG* variables name, as service_role or the database owner.",
    )
    actions = alerts.add_subparsers(dest="alerts_command", required=True)
    run = actions.add_parser(
        "run", help="evaluate the rules every --interval seconds and deliver webhooks, Slack messages and email",
        description="Runs until SIGTERM or Ctrl-C; with --once (for cron) evaluates once and delivers "
        "until every notification is sent or has failed. Settings: AGENT_ANALYTICS_SMTP_URL, "
        "AGENT_ANALYTICS_ALERT_FROM, AGENT_ANALYTICS_ALLOW_PRIVATE_TARGETS, AGENT_ANALYTICS_PUBLIC_URL (README).",
    )
    run.add_argument("--once", action="store_true", help="evaluate once, deliver, and exit")
    run.add_argument("--interval", type=_seconds, default=60.0, metavar="SECONDS",
                     help="seconds between evaluations (default 60)")
    listed = actions.add_parser("list", help="the rules, their state, open alert and last notification")
    listed.add_argument("--json", action="store_true", help="JSON for programs instead of a table")


def main(args: argparse.Namespace, console: Console) -> int:
    if args.alerts_command == "list":
        return _list(args, console)
    return _run(args, console)


def _list(args: argparse.Namespace, console: Console) -> int:
    from agent_analytics.alerts import listing

    with db.connect(db.resolve(dbt.project_dir())) as conn:
        statuses = listing.rule_statuses(conn)
    if args.json:
        print(listing.as_json(statuses))
    else:
        console.print(listing.as_table(statuses))
    return 0


def _run(args: argparse.Namespace, console: Console) -> int:
    # imported here, not at the top: the CLI's other commands need no HTTP client
    from agent_analytics.alerts import dispatcher

    settings = AlertSettings.from_environment()  # a bad setting is named before anything connects
    target = db.resolve(dbt.project_dir())

    def report(line: str) -> None:
        console.print(line, highlight=False, markup=False)

    report(f"alerts: using {target.describe()}")
    if args.once:
        dispatcher.run_once(target, settings, report=report)
    else:
        dispatcher.run_forever(target, settings, args.interval, report=report)
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value
