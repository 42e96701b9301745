"""What the dashboard reads, as its caller: a member (authenticated, with their JWT claims) or the
platform's operator (service_role). Each function runs on a connection already inside
postgrest.acting_as, so row-level security decides what comes back,
exactly as for the app; nothing here filters by membership itself.

The queries are dashboard_queries.sql's, with the platform row (workspace_id NULL) for the
platform view. Windows are relative to now, as the app's are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import psycopg
from psycopg import sql

from agent_analytics.dashboard import DashboardError


class NotFound(DashboardError):
    """What the caller asked for does not exist for them (an unknown email, a workspace they
    are not a member of): the page says so with a 404."""


class Forbidden(DashboardError):
    """A page the caller may not open (the platform view for a member): a 403."""


@dataclass(frozen=True)
class Caller:
    """Who a request reads as: a member (by email) or, without one, service_role."""

    role: str
    user_id: uuid.UUID | None = None
    email: str | None = None

    @property
    def is_member(self) -> bool:
        return self.role == "authenticated"


SERVICE = Caller("service_role")


@dataclass(frozen=True)
class Workspace:
    id: uuid.UUID
    name: str
    plan: str
    # the member's role in it; for service_role, the email of an owner to act as
    detail: str | None


@dataclass(frozen=True)
class ActiveUsers:
    day: date
    daily: int
    weekly: int
    monthly: int


# The retention_data keys of each cohort period, in order (docs/metrics.md).
PERIOD_KEYS = {
    "weekly": [f"week_{n}" for n in range(1, 13)],
    "daily": ["day_1", "day_7", "day_14", "day_30"],
}


@dataclass(frozen=True)
class Cohort:
    cohort_date: date
    initial_users: int
    retention: dict[str, float]  # e.g. week_1 ... week_12: percent of the cohort active that period


@dataclass(frozen=True)
class Agent:
    name: str
    workspace: str
    runs: int
    success_rate: float | None
    credits: float
    last_run_at: datetime | None


@dataclass(frozen=True)
class Day:
    """One daily_metrics row: the cost and error charts."""

    day: date
    total_runs: int
    credits: float
    credits_by_model: dict[str, float]
    total_errors: int
    error_rate: float | None
    errors_by_type: dict[str, int]


@dataclass(frozen=True)
class Hour:
    hour: datetime
    avg_response_ms: float | None
    p95_response_ms: float | None


@dataclass(frozen=True)
class Alert:
    rule: str
    workspace: str
    triggered_at: datetime
    metric_value: float | None
    threshold_value: float | None
    notification_status: str


@dataclass(frozen=True)
class Dashboard:
    """One page's data: a workspace's (workspace_id set) or the platform's."""

    title: str
    workspace_id: uuid.UUID | None
    active_users: list[ActiveUsers] = field(default_factory=list)
    cohort_period: str = "weekly"
    cohorts: list[Cohort] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)
    days: list[Day] = field(default_factory=list)
    hours: list[Hour] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def caller_for(conn: psycopg.Connection, email: str | None) -> Caller:
    """The member an email names, looked up as service_role (the operator picks whom to act as;
    reading their pages is then theirs alone); without an email, service_role."""
    if email is None:
        return SERVICE
    row = conn.execute("select id, email from public.users where lower(email) = lower(%s)", (email,)).fetchone()
    if row is None:
        raise NotFound(f"no user has the email {email!r}")
    return Caller("authenticated", row[0], row[1])


def workspaces(conn: psycopg.Connection, caller: Caller, limit: int = 500) -> list[Workspace]:
    """What the caller may open: a member's own workspaces (RLS on the app's tables) with their
    role in each; for service_role every workspace with an owner to act as."""
    if caller.is_member:
        rows = conn.execute(
            "select w.id, w.name, w.plan, m.role from public.workspaces as w "
            "join public.workspace_members as m on m.workspace_id = w.id and m.user_id = (select auth.uid()) "
            "order by w.name, w.id limit %s", (limit,)).fetchall()
    else:
        rows = conn.execute(
            "select w.id, w.name, w.plan, (select u.email from public.workspace_members as m "
            "  join public.users as u on u.id = m.user_id "
            "  where m.workspace_id = w.id and m.role = 'owner' order by m.joined_at, u.email limit 1) "
            "from public.workspaces as w order by w.name, w.id limit %s", (limit,)).fetchall()
    return [Workspace(*row) for row in rows]


def dashboard(conn: psycopg.Connection, caller: Caller, workspace_id: uuid.UUID | None) -> Dashboard:
    """A workspace's page (as its member, or as service_role) or, with no workspace, the
    platform's (service_role only: RLS hides the platform rows from members)."""
    if workspace_id is None:
        if caller.is_member:
            raise Forbidden("the platform view is for service_role: open it without ?as=")
        title = "Platform"
    else:
        row = conn.execute("select name from public.workspaces where id = %s", (workspace_id,)).fetchone()
        if row is None:
            who = f"{caller.email} is not a member of" if caller.is_member else "there is no"
            raise NotFound(f"{who} workspace {workspace_id}")
        title = row[0]
    period, cohorts = _cohorts(conn, workspace_id)
    return Dashboard(
        title=title, workspace_id=workspace_id,
        active_users=_active_users(conn, workspace_id), cohort_period=period, cohorts=cohorts,
        agents=_agents(conn, workspace_id), days=_days(conn, workspace_id),
        hours=_hours(conn, workspace_id), alerts=_alerts(conn, workspace_id),
    )


def _scope(workspace_id: uuid.UUID | None) -> tuple[sql.Composable, tuple]:
    """The filter on workspace_id: the workspace's rows, or the platform row (an equality and an
    IS NULL rather than IS NOT DISTINCT FROM, which no index serves)."""
    if workspace_id is None:
        return sql.SQL("workspace_id is null"), ()
    return sql.SQL("workspace_id = %s"), (workspace_id,)


def _active_users(conn: psycopg.Connection, workspace_id: uuid.UUID | None) -> list[ActiveUsers]:
    where, params = _scope(workspace_id)
    rows = conn.execute(sql.SQL(
        "select activity_date, daily_active_users, weekly_active_users, monthly_active_users "
        "from analytics.mv_active_users "
        "where {} and activity_date > (now() at time zone 'UTC')::date - 90 order by activity_date"
    ).format(where), params).fetchall()
    return [ActiveUsers(*row) for row in rows]


def _cohorts(conn: psycopg.Connection, workspace_id: uuid.UUID | None) -> tuple[str, list[Cohort]]:
    """The latest weekly cohorts; the daily ones while no weekly cohort has a complete week yet
    (a young workspace, or a week of demo data)."""
    where, params = _scope(workspace_id)
    for period, limit in (("weekly", 12), ("daily", 14)):
        rows = conn.execute(sql.SQL(
            "select cohort_date, initial_users, retention_data from analytics.user_cohorts "
            "where {} and cohort_period = %s order by cohort_date desc limit %s"
        ).format(where), (*params, period, limit)).fetchall()
        cohorts = [Cohort(day, users, {key: float(value) for key, value in (retention or {}).items()})
                   for day, users, retention in reversed(rows)]
        if any(cohort.retention for cohort in cohorts):
            return period, cohorts
    return "weekly", []


def _agents(conn: psycopg.Connection, workspace_id: uuid.UUID | None) -> list[Agent]:
    where, params = _scope(workspace_id)
    if workspace_id is None:  # the platform's leaderboard: every workspace's agents
        where, params = sql.SQL("workspace_id is not null"), ()
    # the workspace's name as the caller reads public.workspaces (a member: theirs only)
    rows = conn.execute(sql.SQL(
        "select a.agent_name, coalesce(w.name, ''), a.total_runs_30d, a.success_rate, a.total_credits_30d, "
        "a.last_run_at from analytics.mv_top_agents as a left join public.workspaces as w on w.id = a.workspace_id "
        "where a.{} order by a.total_runs_30d desc, a.agent_id limit 10"
    ).format(where), params).fetchall()
    return [Agent(name, space, runs, _number(rate), _number(credits) or 0.0, last)
            for name, space, runs, rate, credits, last in rows]


def _days(conn: psycopg.Connection, workspace_id: uuid.UUID | None) -> list[Day]:
    where, params = _scope(workspace_id)
    rows = conn.execute(sql.SQL(
        "select metric_date, total_runs, total_credits_consumed, credits_by_model, total_errors, error_rate, "
        "errors_by_type from analytics.daily_metrics "
        "where {} and metric_date > (now() at time zone 'UTC')::date - 30 order by metric_date"
    ).format(where), params).fetchall()
    return [
        Day(day, runs, _number(credits) or 0.0, {model: float(value) for model, value in (by_model or {}).items()},
            errors, _number(rate), {kind: int(count) for kind, count in (by_type or {}).items()})
        for day, runs, credits, by_model, errors, rate, by_type in rows
    ]


def _hours(conn: psycopg.Connection, workspace_id: uuid.UUID | None) -> list[Hour]:
    where, params = _scope(workspace_id)
    rows = conn.execute(sql.SQL(
        "select metric_hour, avg_response_time_ms, p95_response_time_ms from analytics.hourly_metrics "
        "where {} and metric_hour >= now() - interval '7 days' order by metric_hour"
    ).format(where), params).fetchall()
    return [Hour(hour, _number(avg), _number(p95)) for hour, avg, p95 in rows]


def _alerts(conn: psycopg.Connection, workspace_id: uuid.UUID | None) -> list[Alert]:
    """Open alerts: episodes still firing that nobody acknowledged, latest first."""
    # the platform's: every workspace's
    where, params = (sql.SQL("true"), ()) if workspace_id is None else (sql.SQL("h.workspace_id = %s"), (workspace_id,))
    rows = conn.execute(sql.SQL(
        "select coalesce(r.name, '(deleted rule)'), coalesce(w.name, ''), h.triggered_at, h.metric_value, "
        "h.threshold_value, h.notification_status from analytics.alert_history as h "
        "left join analytics.alert_rules as r on r.id = h.alert_rule_id "
        "left join public.workspaces as w on w.id = h.workspace_id "
        "where {} and h.acknowledged_at is null and h.state = 'firing' order by h.triggered_at desc limit 50"
    ).format(where), params).fetchall()
    return [Alert(rule, space, at, _number(value), _number(threshold), status or "")
            for rule, space, at, value, threshold, status in rows]


def _number(value: Decimal | float | int | None) -> float | None:
    return None if value is None else float(value)
