"""`agent-analytics worker`: the arguments, and the calls they make."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from agent_analytics import db, dbt


def add_commands(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser(
        "worker", help="run the whole schedule in one process: builds, alerts, retention, partitions (docs/worker.md)",
        description="Runs until SIGTERM or Ctrl-C (the running step is finished first; a second signal abandons "
        "it); with --once runs each due step once and exits 0 when all succeeded. Logs one JSON object per "
        "line. Uses the database the PG* variables name, as the database owner (postgres on Supabase).",
    )
    worker.add_argument("--once", action="store_true", help="run each due step once, then exit")
    worker.add_argument("--config", type=Path, metavar="FILE",
                        help="a TOML file that changes the schedule's defaults (docs/worker.md)")


def main(args: argparse.Namespace, console: Console) -> int:
    # imported here: the other commands need neither dbt's runner nor the HTTP client
    from agent_analytics.alerts.settings import AlertSettings
    from agent_analytics.worker.config import WorkerConfig
    from agent_analytics.worker.run import Worker

    config = WorkerConfig.load(args.config)  # a bad setting is named before anything connects
    settings = AlertSettings.from_environment()
    target = db.resolve(dbt.project_dir())
    worker = Worker(target, config, settings, build_role=os.environ.get("DBT_BUILD_ROLE", "analytics_builder"))
    if not args.once:
        # a second stop signal abandoned a step: the shell's code for an interrupted command
        return 0 if worker.run_forever() else 130
    result = worker.run_once()
    return 1 if result.failed else 0
