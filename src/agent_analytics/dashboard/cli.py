"""`agent-analytics dashboard`: the arguments, and the server they start."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from rich.console import Console

from agent_analytics import db, dbt

DEFAULT_PORT = 8765


def add_commands(commands: argparse._SubParsersAction) -> None:
    dashboard = commands.add_parser(
        "dashboard", help="serve the dashboard on 127.0.0.1: workspaces as their members see them, the platform view",
        description="Serves on 127.0.0.1 only, until SIGTERM or Ctrl-C. `/` lists what the caller may open; "
        "`?as=<email>` acts as that member, through row-level security as the app reads; without it the pages "
        "are service_role's. Uses the database the PG* variables name (log in as authenticator, as PostgREST "
        "does, or as the owner), else the embedded one. Needs the [dashboard] extra (plotly).",
    )
    dashboard.add_argument("--port", type=_port, default=DEFAULT_PORT,
                           help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)")


def main(args: argparse.Namespace, console: Console) -> int:
    from agent_analytics.dashboard.server import DashboardServer

    target = db.resolve(dbt.project_dir())
    with db.connect(target):  # a wrong PG* variable is named now, not at the first page
        pass
    server = DashboardServer(target, args.port)
    # shutdown() waits for serve_forever() to return, so it cannot run in the signal handler,
    # which interrupts serve_forever() on this same thread
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: threading.Thread(target=server.shutdown).start())
    try:
        console.print(f"dashboard: http://127.0.0.1:{server.port}/ reading {target.describe()} "
                      "(stop with Ctrl-C or SIGTERM)", highlight=False, soft_wrap=True)
        sys.stdout.flush()  # a program waiting for this line reads a pipe, which Python buffers
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        signal.signal(signal.SIGTERM, previous)
    console.print("dashboard: stopped", highlight=False)
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0 to 65535), not {text!r}")
    return int(text)
