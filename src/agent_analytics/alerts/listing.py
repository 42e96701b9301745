"""The rules and where each stands, for `agent-analytics alerts list`: a table for people,
JSON for programs. Targets are not shown: they may carry secrets."""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg.rows import class_row
from rich.table import Table

from agent_analytics.alerts.notification import CONDITION_SIGNS, number
from agent_analytics.alerts.outbox import AlertsUnavailable


@dataclass(frozen=True)
class RuleStatus:
    rule_id: uuid.UUID
    name: str
    workspace: str | None  # None: a platform-wide rule
    is_active: bool
    metric_type: str
    condition: str
    threshold: Decimal
    window_minutes: int
    state: str | None  # None: not evaluated yet
    state_since: datetime | None
    last_value: Decimal | None
    open_alert_id: uuid.UUID | None
    last_notification_status: str | None
    episodes: int  # times it fired
    last_resolved_at: datetime | None


RULES = """
select
    r.id as rule_id,
    r.name,
    ws.name as workspace,
    coalesce(r.is_active, false) as is_active,
    r.metric_type,
    r.condition,
    r.threshold_value as threshold,
    r.evaluation_window_minutes as window_minutes,
    st.state,
    st.state_since,
    st.last_value,
    open_alert.id as open_alert_id,
    latest.notification_status as last_notification_status,
    coalesce(r.trigger_count, 0) as episodes,
    (select max(h.resolved_at) from analytics.alert_history as h where h.alert_rule_id = r.id) as last_resolved_at
from analytics.alert_rules as r
left join public.workspaces as ws on r.workspace_id = ws.id
left join analytics.alert_rule_states as st on r.id = st.alert_rule_id
left join analytics.alert_history as open_alert on r.id = open_alert.alert_rule_id and open_alert.state = 'firing'
left join lateral (
    select h.notification_status from analytics.alert_history as h
    where h.alert_rule_id = r.id order by h.triggered_at desc limit 1
) as latest on true
order by ws.name nulls first, r.name, r.id
"""


def rule_statuses(conn: psycopg.Connection) -> list[RuleStatus]:
    try:
        with conn.cursor(row_factory=class_row(RuleStatus)) as cursor:
            return cursor.execute(RULES).fetchall()
    except psycopg.errors.UndefinedTable as error:
        raise AlertsUnavailable(f"{error.diag.message_primary}: run `agent-analytics deploy` first") from error


def as_json(statuses: list[RuleStatus]) -> str:
    def plain(value: object) -> object:
        if isinstance(value, (uuid.UUID, Decimal)):
            return str(value) if isinstance(value, uuid.UUID) else float(value)
        if isinstance(value, datetime):
            return value.isoformat()
        return value

    return json.dumps([{key: plain(value) for key, value in dataclasses.asdict(status).items()}
                       for status in statuses], indent=2)


def as_table(statuses: list[RuleStatus]) -> Table:
    table = Table(title="alert rules")
    for column in ("rule", "workspace", "watches", "state", "value", "fired", "last resolved", "sent"):
        table.add_column(column)
    for status in statuses:
        state = status.state or ("inactive" if not status.is_active else "not evaluated")
        if status.state_since:
            state += f" since {status.state_since:%m-%d %H:%M}"
        if status.open_alert_id:
            # enough of the id to find it; --json gives it whole
            state += f" (alert {str(status.open_alert_id)[:8]})"
        table.add_row(
            status.name,
            status.workspace or "(platform)",
            f"{status.metric_type} {CONDITION_SIGNS.get(status.condition, status.condition)} "
            f"{number(status.threshold)} over {status.window_minutes} min",
            state,
            "" if status.last_value is None else number(status.last_value),
            f"{status.episodes}×" if status.episodes else "",
            f"{status.last_resolved_at:%m-%d %H:%M}" if status.last_resolved_at else "",
            status.last_notification_status or "",
        )
    return table
