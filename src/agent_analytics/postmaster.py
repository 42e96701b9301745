"""Whether the process a data folder's postmaster.pid names is that folder's server.

The pid file outlives its server (a crash, a reboot, `kill -9`), and by then the number in it
may belong to any other process. pg_ctl trusts the file: `pg_ctl stop` would signal that
process, and the postmaster refuses to start while it lives. So nothing here is signalled on
the file's word alone: the process must be a postgres started on this very folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from agent_analytics.db import DatabaseUnavailable

PID_FILE = "postmaster.pid"
STOP_TIMEOUT_SECONDS = 60


def recorded_pid(data_dir: Path) -> int | None:
    """The pid on the first line of the folder's postmaster.pid, if there is a readable one."""
    try:
        first_line = (data_dir / PID_FILE).read_text(errors="replace").split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first_line) if first_line.isdigit() and int(first_line) > 0 else None


def is_server_of(pid: int, data_dir: Path) -> bool:
    """True when `pid` is a postgres whose command line says `-D data_dir`."""
    arguments = _command_line(pid)
    if not arguments or not Path(arguments[0]).name.startswith("postgres"):
        return False
    wanted = data_dir.resolve()
    return any(flag == "-D" and Path(value).resolve() == wanted for flag, value in zip(arguments, arguments[1:]))


def server_pid(data_dir: Path) -> int | None:
    """The pid of the server running on `data_dir`, or None when none is."""
    pid = recorded_pid(data_dir)
    return pid if pid is not None and is_server_of(pid, data_dir) else None


def forget_stale_pid_file(data_dir: Path) -> None:
    """Remove a pid file that names a live process other than this folder's server (after a
    reboot, say): the postmaster would refuse to start while that process lives. A pid file
    naming no live process is left to the postmaster, which checks more than we can."""
    pid = recorded_pid(data_dir)
    if pid is not None and _is_alive(pid) and not is_server_of(pid, data_dir):
        (data_dir / PID_FILE).unlink(missing_ok=True)


def stop(data_dir: Path) -> bool:
    """Stop the folder's server with a fast shutdown (what `pg_ctl stop -m fast` sends) and wait
    until it has gone; False when no server of this folder runs. Works on a damaged folder too,
    where pg_ctl gives up."""
    pid = server_pid(data_dir)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while is_server_of(pid, data_dir):
        if time.monotonic() > deadline:
            raise DatabaseUnavailable(
                f"the server on {data_dir} (pid {pid}) did not stop within {STOP_TIMEOUT_SECONDS} s"
            )
        time.sleep(0.1)
    return True


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, and another user's
    return True


def _command_line(pid: int) -> list[str]:
    """The process's arguments; empty when it has gone (or is a zombie, which has none)."""
    proc = Path("/proc") / str(pid) / "cmdline"
    if Path("/proc/self/cmdline").exists():
        try:
            return [part for part in proc.read_bytes().decode(errors="replace").split("\0") if part]
        except OSError:
            return []
    # No /proc (macOS): ps shows the command line, split on spaces.
    result = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return result.stdout.split()
