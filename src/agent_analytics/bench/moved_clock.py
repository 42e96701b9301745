"""A clock moved ahead to a chosen UTC time of day, for a measurement whose subject depends on the
hour: the live hour and day compute the current UTC day from the raw rows (docs/live-metrics.md),
so a run at 03:00 UTC and one at 22:00 measure different work, and a run of record should say
which hour it measured rather than inherit the hour it was started at.

libfaketime (Debian: faketime) moves the clock of every process started with it preloaded. A
whole run is started under it (the generator, dbt, the server and pgbench alike), so that every
timestamp the run writes and reads agrees with every other; the machine's clock is not touched.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from agent_analytics.bench.options import BenchError

# Where Debian's faketime package puts the library, per architecture.
LIBRARY_PATTERN = "/usr/lib/*/faketime/libfaketime.so.1"
# Set in a run already moved, so that it does not move again: the offset, in seconds.
MOVED_BY = "AGENT_ANALYTICS_CLOCK_MOVED_BY"
DAY = timedelta(days=1)


class ClockError(BenchError):
    """The clock cannot be moved as asked; the message says why."""


def parse_time_of_day(text: str) -> time:
    """`HH:MM` in UTC, as a user writes it."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if match is None:
        raise ClockError(f"--at {text!r} is not a UTC time of day: write HH:MM, from 00:00 to 23:59")
    return time(int(match.group(1)), int(match.group(2)), tzinfo=UTC)


def offset_to(at: time, now: datetime) -> timedelta:
    """How far ahead the clock must move for `now` to read `at`: today's, or tomorrow's once
    today's has passed (less than a day, never back)."""
    now_utc = now.astimezone(UTC)
    target = datetime.combine(now_utc.date(), at.replace(tzinfo=None), tzinfo=UTC)
    return (target - now_utc) % DAY


def library() -> Path:
    """libfaketime, or an error that says how to install it."""
    found = sorted(glob.glob(LIBRARY_PATTERN))
    if not found:
        raise ClockError(f"moving the clock needs libfaketime ({LIBRARY_PATTERN}): apt-get install faketime")
    return Path(found[0])


def moved_environment(offset: timedelta, environment: Mapping[str, str]) -> dict[str, str]:
    """`environment` with libfaketime preloaded and the clock `offset` ahead, for every process
    started with it and their children."""
    seconds = int(offset.total_seconds())
    if seconds < 0:
        raise ClockError(f"the clock only moves ahead, not by {seconds} s")
    moved = dict(environment)
    moved["LD_PRELOAD"] = os.pathsep.join(filter(None, [str(library()), environment.get("LD_PRELOAD")]))
    # A plain number: seconds ahead of the real clock, which keeps running (libfaketime's
    # relative mode); its spelling with a unit suffix is not read the same by every version.
    moved["FAKETIME"] = f"+{seconds}"
    moved[MOVED_BY] = str(seconds)
    return moved


def moved_by(environment: Mapping[str, str]) -> timedelta | None:
    """How far this run's clock was moved, or None if it was not."""
    seconds = environment.get(MOVED_BY)
    return None if seconds is None else timedelta(seconds=int(seconds))
