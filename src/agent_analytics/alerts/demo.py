"""A few alert rules on the demo data, with the last day replayed through them, so that a
newcomer's `agent-analytics alerts list` shows rules that fired and resolved (`up`). The rules
have no channels: nothing is sent anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

MARK = "(demo)"

# Thresholds from the data's own last two days, so that the rules fire in its busy hours and
# resolve in its quiet ones at every scale: the 75th percentile of the hourly figure, resolving
# at the median.
DEMO_RULES = """
with hourly as (
    select date_trunc('hour', started_at) as hour, count(*) as runs,
           count(*) filter (where status = 'failed') as failed
    from public.agent_runs where started_at >= %(end)s - interval '2 days' and started_at < %(end)s
    group by 1
),
latency as (
    -- the staging view's response_time_ms: what the build and the evaluation count as one
    select date_trunc('hour', created_at) as hour,
           percentile_cont(0.95) within group (order by response_time_ms) as p95
    from analytics_internal.stg_analytics__user_activity
    where created_at >= %(end)s - interval '2 days' and created_at < %(end)s and response_time_ms is not null
    group by 1
),
busiest as (
    select workspace_id from public.agent_runs
    where started_at >= %(end)s - interval '2 days' group by 1 order by count(*) desc, 1 limit 1
),
quietest as (
    select w.id as workspace_id from public.workspaces as w
    left join public.agent_runs as r on r.workspace_id = w.id and r.started_at >= %(end)s - interval '2 days'
    group by w.id order by count(r.id), w.id limit 1
)
insert into analytics.alert_rules (workspace_id, name, description, metric_type, condition, threshold_value,
                                   recovery_threshold, evaluation_window_minutes, pending_minutes)
select null::uuid, 'Busy hour (demo)', 'more runs in an hour than three hours in four', 'total_runs', 'greater_than',
       t.high, t.median, 60, 0
from (select coalesce(percentile_disc(0.75) within group (order by runs), 0) as high,
             coalesce(percentile_disc(0.5) within group (order by runs), 0) as median from hourly) as t
union all
select null, 'Slow API (demo)', 'p95 response time above that of three hours in four', 'p95_response_time_ms',
       'greater_than', round(t.high::numeric, 2), round(t.median::numeric, 2), 60, 0
from (select coalesce(percentile_cont(0.75) within group (order by p95), 0) as high,
             coalesce(percentile_cont(0.5) within group (order by p95), 0) as median from latency) as t
union all
select workspace_id, 'Failed runs (demo)', 'a failed run in the busiest workspace, for 15 minutes', 'failed_runs',
       'greater_than', 0, null, 60, 15
from busiest
union all
select workspace_id, 'Nothing arrives (demo)', 'no event and no run in an hour in the quietest workspace', 'no_data',
       'less_than', 1, null, 60, 0
from quietest
"""


@dataclass(frozen=True)
class Replay:
    rules: int
    evaluations: int
    fired: int
    resolved: int


def seed_and_replay(conn: psycopg.Connection, end: datetime, hours: int = 24,
                    step: timedelta = timedelta(minutes=15)) -> Replay | None:
    """The demo rules and `hours` of evaluations up to `end`, every `step`; None when the demo
    rules are already there (a second `up` keeps what the first made)."""
    if conn.execute("select exists (select from analytics.alert_rules where name like %s)",
                    (f"%{MARK}",)).fetchone()[0]:
        return None
    with conn.transaction():
        rules = conn.execute(DEMO_RULES, {"end": end}).rowcount
        moments = [end - timedelta(hours=hours) + step * index for index in range(int(hours * 3600 / step.seconds) + 1)]
        fired = sum(conn.execute("select analytics.evaluate_alerts(%s)", (moment,)).fetchone()[0] for moment in moments)
        resolved = conn.execute(
            "select count(*) from analytics.alert_history as h join analytics.alert_rules as r on r.id = h.alert_rule_id "
            "where r.name like %s and h.state = 'resolved'", (f"%{MARK}",)).fetchone()[0]
    return Replay(rules=rules, evaluations=len(moments), fired=fired, resolved=resolved)
