"""What is wrong with the embedded server's data folder, said in one paragraph a user can act on.

A folder that lost a file, was made by another PostgreSQL, or whose setup was interrupted
cannot be repaired from here; what the user needs is its name, what is wrong, and the way
out (`agent-analytics reset`), not pg_ctl's output and the server's log.
"""

from __future__ import annotations

from pathlib import Path

from agent_analytics.db import EMBEDDED_MARKER, DatabaseUnavailable

# What every data folder has from initdb on; without one, PostgreSQL cannot start on it.
ESSENTIAL = ("global/pg_control", "base", "pg_wal")
WAY_OUT = ("`agent-analytics reset` deletes the folder (and the data in it), and `agent-analytics up` "
           "then starts over")


class DamagedDataFolder(DatabaseUnavailable):
    """The embedded server's data folder cannot be used as it is; the message says why and what to do."""


def check(data_dir: Path, server_major: int | None = None) -> None:
    """Raise DamagedDataFolder unless the folder is absent, empty (both are made afresh), or a
    whole data folder that agent-analytics made for this PostgreSQL major version."""
    problem = _problem(data_dir, server_major)
    if problem:
        raise DamagedDataFolder(
            f"the embedded server's data folder {data_dir} is damaged: {problem}. PostgreSQL cannot "
            f"run on it as it is; {WAY_OUT}."
        )


def does_not_start(data_dir: Path, log_file: Path, log_mark: int, pg_ctl_error: str) -> DamagedDataFolder:
    """The paragraph for a folder that looks whole but on which the server does not start: the
    server's first FATAL or PANIC line since `log_mark`, else pg_ctl's own complaint."""
    reason = _first_fatal_line(log_file, log_mark) or pg_ctl_error.splitlines()[0]
    return DamagedDataFolder(
        f"the embedded server does not start on {data_dir}: {reason.rstrip('.')}. If the folder is "
        f"damaged, {WAY_OUT}; the server's log is {log_file}."
    )


def log_size(log_file: Path) -> int:
    try:
        return log_file.stat().st_size
    except OSError:
        return 0


def _problem(data_dir: Path, server_major: int | None) -> str | None:
    if not data_dir.is_dir() or not any(data_dir.iterdir()):
        return None
    version_file = data_dir / "PG_VERSION"
    if not version_file.is_file():
        return "it has no PG_VERSION file, so it is not (or no longer) a PostgreSQL data folder"
    version = version_file.read_text(errors="replace").strip()
    if not version.isdigit():
        return f"its PG_VERSION file says {version[:20]!r} instead of a PostgreSQL version"
    if server_major is not None and int(version) != server_major:
        return f"it was made by PostgreSQL {version}, and the embedded server is PostgreSQL {server_major}"
    missing = [name for name in ESSENTIAL if not (data_dir / name).exists()]
    if missing:
        return " and ".join(missing) + (" are" if len(missing) > 1 else " is") + " missing"
    if not (data_dir / EMBEDDED_MARKER).exists():
        return ("agent-analytics did not finish setting it up (its setup was interrupted, or an earlier "
                "version made it, not built like a Supabase database)")
    return None


def _first_fatal_line(log_file: Path, mark: int) -> str | None:
    try:
        with log_file.open("rb") as log:
            log.seek(mark)
            text = log.read().decode(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        for level in ("PANIC:", "FATAL:"):
            if level in line:
                return line.split(level, 1)[1].strip()
    return None
