"""What a benchmark run was asked to do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from agent_analytics import generate
from agent_analytics.bench.results import RunOptions
from agent_analytics.errors import AgentAnalyticsError

# The concurrency section's pgbench client counts, unless --load-clients says otherwise.
LOAD_CLIENTS = (1, 8, 32)


class BenchError(AgentAnalyticsError):
    """The benchmark cannot run as asked; the message says why."""


@dataclass(frozen=True)
class BenchOptions:
    scale_name: str
    output: Path
    seed: int = 42
    repeat: int = 50  # executions of each dashboard query, per role and schema
    hourly_builds: int = 3  # --append 1h then an incremental build, this many times
    daily_builds: int = 1  # --append 1d then an incremental build
    refresh_repeat: int = 3
    keep: bool = False
    naive_limit: float = 600.0  # seconds any one statement of the naive baseline may run
    days: int | None = None  # days of history; None: the scale's
    load_seconds: int = 5  # pgbench seconds per query, caller, protocol and client count; 0: no load section
    load_clients: tuple[int, ...] = LOAD_CLIENTS
    load_rounds: int = 3  # pgbench runs of each cell, the callers taking turns; TPS is their median
    # pgbench transactions per client in each cell instead of load_seconds: a quick run of the
    # section (CI's smoke test), whose figures are no measurement
    load_transactions: int | None = None

    @property
    def scale(self) -> generate.Scale:
        return generate.SCALES[self.scale_name]

    @property
    def label(self) -> str:
        """The scale, and the days of history when they are not the scale's: names the data and the results."""
        if self.days is None or self.days == self.scale.days:
            return self.scale_name
        return f"{self.scale_name}-{self.days}d"

    @property
    def history_days(self) -> int:
        return self.days or self.scale.days

    @property
    def appended(self) -> timedelta:
        return timedelta(hours=self.hourly_builds, days=self.daily_builds)

    def recorded(self) -> RunOptions:
        """The options the results record."""
        return RunOptions(repeat=self.repeat, hourly_builds=self.hourly_builds, daily_builds=self.daily_builds,
                          refresh_repeat=self.refresh_repeat, naive_limit_s=self.naive_limit,
                          load_seconds=self.load_seconds, load_rounds=self.load_rounds,
                          load_transactions=self.load_transactions)

    def check(self) -> None:
        if self.hourly_builds < 1 or self.daily_builds < 1 or self.repeat < 1 or self.refresh_repeat < 1:
            raise BenchError("--builds, --repeat and --refresh-repeat must be at least 1")
        if self.load_seconds < 0:
            raise BenchError("--load-seconds must be 0 (no concurrency section) or more")
        if self.load_rounds < 1:
            raise BenchError("--load-rounds must be at least 1")
        if self.load_transactions is not None and self.load_transactions < 1:
            raise BenchError("--load-transactions must be at least 1")
        if self.load_transactions is not None and self.load_seconds == 0:
            raise BenchError("--load-transactions runs the concurrency section, which --load-seconds 0 leaves out: "
                             "give one or the other")
