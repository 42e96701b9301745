"""Erasure of a person on request (docs/security.md, "Erasure and retention of personal data"):
the deploy's analytics.erase_user() removes their events now and keeps every later build from
taking their rows in; the build that follows removes what the grains kept."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import psycopg

from agent_analytics import db, dbt
from agent_analytics.errors import AgentAnalyticsError


class ErasureError(AgentAnalyticsError):
    """The erasure was refused; the message says why."""


@dataclass(frozen=True)
class Erasure:
    user_id: UUID
    events_deleted: int
    built: bool


def erase_user(target: db.Connection, user_id: UUID, build: bool = True) -> Erasure:
    """Erase one person: their events now, the rest by a scheduled build (unless build=False,
    in which case the next scheduled build does it)."""
    try:
        with db.connect(target) as conn:
            events_deleted = conn.execute("select analytics.erase_user(%s)", (user_id,)).fetchone()[0]
    except psycopg.errors.NoDataFound as error:
        raise ErasureError(error.diag.message_primary or str(error)) from error
    except psycopg.errors.UndefinedFunction as error:
        raise ErasureError("analytics.erase_user() is missing: run `agent-analytics deploy` first") from error
    except psycopg.errors.InsufficientPrivilege as error:
        raise ErasureError(f"{target.user} may not erase users (the owner or service_role may): {error}") from error
    if build:
        dbt.run_dbt(list(dbt.SCHEDULED_BUILD), target)
    return Erasure(user_id=user_id, events_deleted=events_deleted, built=build)
