"""A server clock moved ahead to a chosen UTC time of day, and weekday if asked, for a
measurement whose subject depends on them: the live hour and day compute the current UTC day
from the raw rows (docs/live-metrics.md), so a run at 03:00 UTC and one at 22:00 measure
different work; the generated users are a third as active at weekends; and a user's recent
events, seven days back to a day ahead, plan a third weekly partition on Sundays only, when the
day ahead falls in the next ISO week (docs/performance.md). A run of record should say which it
measured rather than inherit the moment it started at.

libfaketime (Debian: faketime) moves the clock of a process started with it preloaded. Only
the server's processes are started so (cluster.Cluster's clock_offset): what the run measures is
the server's work, and the server's now() is what the functions read. Python is not moved: the
libfaketime Debian ships (0.9.10) does not wrap sem_clockwait, which Python 3.11 uses for every
wait with a timeout (threading.Event.wait, queue.Queue.get), so such a wait would block for the
offset; with the monotonic clock left unmoved, time.sleep fails instead (EINVAL). The run's Python
therefore takes its times from the server (bench/load_alone.py).
"""

from __future__ import annotations

import re
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from agent_analytics.errors import AgentAnalyticsError

DAY = timedelta(days=1)
# Debian's place for the library, under the interpreter's multiarch folder.
LIBRARY = Path("/usr/lib") / (sysconfig.get_config_var("MULTIARCH") or "") / "faketime" / "libfaketime.so.1"


class ClockError(AgentAnalyticsError):
    """The clock cannot be moved as asked, or did not move; the message says why."""


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def weekday_abbreviation(weekday: int) -> str:
    """`Mon` for 0 (`date.weekday()`'s numbering), spelled here rather than by the locale."""
    return WEEKDAYS[weekday][:3].title()


@dataclass(frozen=True)
class ClockTarget:
    """A UTC time of day, on a weekday as `date.weekday()` numbers it (0 is Monday), or on
    whichever day reaches it first."""

    time_of_day: time
    weekday: int | None = None

    def __post_init__(self) -> None:
        if self.weekday is not None and self.weekday not in range(7):
            raise ClockError(f"weekday {self.weekday} is not one: 0 (Monday) to 6 (Sunday)")
        if self.time_of_day.tzinfo not in (None, UTC):
            raise ClockError(f"the time of day {self.time_of_day} is not in UTC")

    def __str__(self) -> str:
        day = "" if self.weekday is None else f"{weekday_abbreviation(self.weekday)} "
        return f"{day}{self.time_of_day:%H:%M} UTC"


def parse_time_of_day(text: str) -> time:
    """`HH:MM` in UTC, as a user writes it."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if match is None:
        raise ClockError(f"--at {text!r} is not a UTC time of day: write HH:MM, from 00:00 to 23:59, "
                         "after a weekday if you want one ('Mon 21:00'; always UTC)")
    return time(int(match.group(1)), int(match.group(2)), tzinfo=UTC)


def parse_target(text: str) -> ClockTarget:
    """`HH:MM`, or a weekday and `HH:MM` (`"Mon 21:00"`, `monday 21:00`), in UTC."""
    words = text.split()
    if len(words) != 2:
        return ClockTarget(parse_time_of_day(text))
    day = words[0].lower()
    matches = [index for index, name in enumerate(WEEKDAYS) if len(day) >= 3 and name.startswith(day)]
    if not matches:
        raise ClockError(f"--at {text!r}: {words[0]!r} is not a weekday: write Mon to Sun, or the day's name, "
                         "before the time")
    return ClockTarget(parse_time_of_day(words[1]), matches[0])


def offset_to(target: ClockTarget, now: datetime) -> timedelta:
    """How far ahead the clock must move for `now` to read `target`: the first such moment from
    now on, never back; less than a day for a time of day alone, less than a week with a weekday."""
    now_utc = now.astimezone(UTC)
    at = datetime.combine(now_utc.date(), target.time_of_day.replace(tzinfo=None), tzinfo=UTC)
    offset = (at - now_utc) % DAY
    if target.weekday is not None:
        offset += DAY * ((target.weekday - (now_utc + offset).weekday()) % 7)
    return offset


def library() -> Path:
    """libfaketime, or an error that says how to install it."""
    if not LIBRARY.exists():
        raise ClockError(f"moving the clock needs libfaketime at {LIBRARY}: apt-get install faketime")
    return LIBRARY


def moved_environment(offset: timedelta, environment: Mapping[str, str]) -> dict[str, str]:
    """`environment` with libfaketime preloaded and the clock `offset` ahead, for a process
    started with it and its children."""
    seconds = int(offset.total_seconds())
    if seconds < 0:
        raise ClockError(f"the clock only moves ahead, not by {seconds} s")
    moved = dict(environment)
    moved["LD_PRELOAD"] = ":".join(filter(None, [str(library()), environment.get("LD_PRELOAD")]))
    # A plain number: seconds ahead of the real clock, which keeps running (libfaketime's
    # relative mode); its spellings with a unit suffix are not read the same by every version.
    moved["FAKETIME"] = f"+{seconds}"
    return moved


def check_moved(server_now: datetime, offset: timedelta, now: datetime) -> None:
    """An error unless the server's clock reads `offset` ahead of ours: a library the loader
    refused (it only says so on stderr) would leave the run measuring the hour it started at."""
    drift = abs((server_now - now - offset).total_seconds())
    if drift > 60:
        raise ClockError(
            f"the server's clock reads {server_now.astimezone(UTC):%Y-%m-%d %H:%M} UTC, not "
            f"{(now + offset).astimezone(UTC):%Y-%m-%d %H:%M}: libfaketime ({LIBRARY}) did not move it"
        )
