"""The demo data a database already holds: `up` keeps it, and says what it is instead of
silently ignoring a --scale or --seed that asked for other data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from agent_analytics import bootstrap, generate
from agent_analytics.errors import AgentAnalyticsError


class DataExists(AgentAnalyticsError):
    """Other demo data than the one asked for is already there; the message says how to start over."""


@dataclass(frozen=True)
class DemoData:
    workspaces: int
    users: int
    seed: int | None  # None: generated before the generator remembered its settings
    activity: float | None
    end: datetime | None

    @property
    def scale(self) -> str | None:
        """The --scale that made it, recognised by its workspaces and its activity (remembered)."""
        for name, scale in generate.SCALES.items():
            if (scale.workspaces, scale.activity) == (self.workspaces, self.activity):
                return name
        return None

    def describe(self) -> str:
        parts = [f"scale {self.scale}" if self.scale else f"{self.workspaces:,} workspaces, {self.users:,} users"]
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        if self.end is not None:
            parts.append(f"data up to {self.end:%Y-%m-%d %H:%M} UTC")
        return ", ".join(parts)

    def differs_from(self, scale: str | None, seed: int | None) -> bool:
        """True when a --scale or --seed the user gave asks for other data than this."""
        return (scale is not None and scale != self.scale) or (seed is not None and seed != self.seed)


def existing(conn: psycopg.Connection) -> DemoData | None:
    """The demo app's data, or None where there is no demo app or it is empty. Read as a user
    who sees every row (the owner or a superuser)."""
    if not (bootstrap.has_app_tables(conn) and bootstrap.is_standin_app(conn)):
        return None
    users = bootstrap.app_row_count(conn)
    if users == 0:
        return None
    workspaces = conn.execute("select count(*) from public.workspaces").fetchone()[0]
    settings = generate.remembered_settings(conn)  # the generator's own record of what it made
    return DemoData(
        workspaces=int(workspaces),
        users=users,
        seed=int(settings["seed"]) if "seed" in settings else None,
        activity=float(settings["activity"]) if "activity" in settings else None,
        end=datetime.fromisoformat(settings["end"]) if "end" in settings else None,
    )
