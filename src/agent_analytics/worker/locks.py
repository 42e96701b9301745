"""One run of a step at a time, across every worker and machine: a session advisory lock in the
database, held on the worker's connection for as long as the step runs. PostgreSQL lets it go
when that connection ends, however the worker ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from agent_analytics.errors import AgentAnalyticsError


class StepBusy(AgentAnalyticsError):
    """Another worker (or `agent-analytics build`) runs this step now."""


def _key(step: str) -> str:
    return f"agent-analytics step {step}"


@contextmanager
def holding(conn: psycopg.Connection, step: str) -> Iterator[None]:
    """Hold the step's lock while the block runs, or raise StepBusy at once."""
    if not conn.execute("select pg_try_advisory_lock(hashtext(%s))", (_key(step),)).fetchone()[0]:
        raise StepBusy(f"another agent-analytics {'build' if step == 'build' else 'worker'} is running the {step} "
                       f"step on this database: it holds the advisory lock {_key(step)!r}")
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.execute("select pg_advisory_unlock(hashtext(%s))", (_key(step),))
