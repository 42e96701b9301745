"""Failed calls of the sensitive functions reach the server log (Supabase: Log Explorer,
postgres logs): their audit_log row rolls back with them, and PostgreSQL has no autonomous
transactions. Each call fails the way it fails in production, made as PostgREST makes it, and
the caller gets the error it got before the functions logged their failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import psycopg
import pytest

from conftest import ProjectDatabase, ServerLog, acting_as

# The message starts the entry's text after the prefix: an error or a statement elsewhere in the
# log could hold the same words.
FAILED_CALL = " LOG:  agent-analytics audit: failed call "


@pytest.fixture(scope="module")
def member_id(built: ProjectDatabase):
    return built.value("select user_id from public.workspace_members order by user_id limit 1")


def failed_calls(log_text: str) -> list[dict]:
    """The structured lines of failed calls, parsed."""
    return [json.loads(line.split(FAILED_CALL, 1)[1]) for line in log_text.splitlines() if FAILED_CALL in line]


@contextmanager
def held(built: ProjectDatabase, statement: str) -> Iterator[None]:
    """Another session runs `statement` and keeps its locks while the test's call runs."""
    with built.connect_as("supabase_admin") as holder, holder.transaction(force_rollback=True):
        holder.execute(statement)
        yield


@dataclass(frozen=True)
class Failure:
    """A sensitive call and what makes it fail."""

    action: str
    statement: str
    held_by: str | None  # what another session is doing meanwhile
    timeout: str | None  # how long the request waits (PostgREST's authenticator: 8s for both)
    sqlstate: str
    message: str


FAILURES = {
    "bad arguments": Failure(
        "aggregate_daily_metrics", "select analytics.aggregate_daily_metrics(null)", None, None,
        "P0001", "aggregate_daily_metrics: target_date must not be null"),
    "the rules locked by a deploy": Failure(
        "evaluate_alerts", "select analytics.evaluate_alerts(now())",
        "lock table analytics.alert_rules in access exclusive mode",
        "lock_timeout = '200ms'", "55P03", "canceling statement due to lock timeout"),
    "a rollup locked by a build": Failure(
        "cleanup_old_data", "select analytics.cleanup_old_data()",
        "lock table analytics.hourly_metrics in access exclusive mode",
        "lock_timeout = '200ms'", "55P03", "canceling statement due to lock timeout"),
    "another refresh running": Failure(
        "refresh_all_materialized_views", "select analytics.refresh_all_materialized_views()",
        "lock table analytics.mv_active_users in exclusive mode", "statement_timeout = '200ms'", "57014",
        "canceling statement due to statement timeout"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_a_failed_maintenance_call_is_logged_with_who_and_why_and_the_caller_gets_the_same_error(
    built: ProjectDatabase, member_id, server_log: ServerLog, case: str
):
    failure = FAILURES[case]
    audit_rows_before = built.value("select count(*) from analytics.audit_log where action = %s", (failure.action,))
    with built.api() as conn, acting_as(conn, "service_role", member_id):
        if failure.timeout:
            conn.execute(f"set local {failure.timeout}")
        holding = held(built, failure.held_by) if failure.held_by else nullcontext()
        with holding, pytest.raises(psycopg.Error) as raised, conn.transaction():
            conn.execute(failure.statement)
    assert (raised.value.sqlstate, raised.value.diag.message_primary) == (failure.sqlstate, failure.message)
    assert failed_calls(server_log.since_mark()) == [{
        "action": failure.action, "actor_user_id": str(member_id), "actor_role": "service_role",
        "sqlstate": failure.sqlstate, "message": failure.message,
    }]
    # the audit row the call wrote rolled back with it: the server log is the only record
    assert built.value("select count(*) from analytics.audit_log where action = %s",
                       (failure.action,)) == audit_rows_before


def test_a_failed_alert_rule_change_is_logged_even_when_the_caller_claims_cannot_be_read(
    built: ProjectDatabase, server_log: ServerLog
):
    """A third-party auth provider's `sub` is no uuid: auth.uid() fails, in the audit trigger and
    again when the failure is logged; the log line still comes, with the actor unreadable."""
    workspace_id = built.value("select id from public.workspaces order by id limit 1")
    with built.api() as conn, acting_as(conn, "service_role"):
        conn.execute("select set_config('request.jwt.claims', %s, true)",
                     (json.dumps({"sub": "user_2abcdef", "role": "service_role"}),))
        with pytest.raises(psycopg.errors.InvalidTextRepresentation), conn.transaction():
            conn.execute("insert into analytics.alert_rules (workspace_id, name, metric_type, condition, "
                         "threshold_value) values (%s, 'Errors', 'error_rate', 'greater_than', 5)", (workspace_id,))
    assert failed_calls(server_log.since_mark()) == [{
        "action": "alert_rules.insert", "actor_user_id": "unreadable", "actor_role": "service_role",
        "sqlstate": "22P02", "message": 'invalid input syntax for type uuid: "user_2abcdef"',
    }]


@pytest.mark.parametrize("role, statement, refusal", [
    ("anon", "select analytics.cleanup_old_data()", "permission denied for schema analytics"),
    ("authenticated", "select analytics.cleanup_old_data()", "permission denied for function cleanup_old_data"),
    ("authenticated", "delete from analytics.alert_rules", "permission denied for table alert_rules"),
])
def test_a_call_refused_before_it_starts_is_logged_by_postgres_with_its_statement(
    built: ProjectDatabase, member_id, server_log: ServerLog, role: str, statement: str, refusal: str
):
    """Nothing of ours runs for a call PostgreSQL refuses: it logs the error and the statement
    itself (log_min_error_statement is `error` by default, and only a superuser may change it)."""
    with built.api() as conn, acting_as(conn, role, member_id):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(statement)
    lines = server_log.since_mark().splitlines()
    refused_at = next(index for index, line in enumerate(lines) if f"ERROR:  {refusal}" in line)
    assert f"STATEMENT:  {statement}" in lines[refused_at + 1]
