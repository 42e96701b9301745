"""Alert evaluation at scale: 10,000 active rules evaluated in one pass
(analytics.evaluate_alerts) beside the per-rule function it replaced
(sql/bench_per_rule_alerts.sql), on the same rules and the same data. Runs last: it adds rules."""

from __future__ import annotations

from datetime import datetime
from importlib import resources

from agent_analytics import db
from agent_analytics.bench.results import AlertEvaluation, ratio, summary
from agent_analytics.progress import Progress

RULES = 10_000
# The metrics the per-rule function knows; ours knows more (docs/alerts.md), but the two are
# timed on the same work.
SHARED_METRICS = ("total_runs", "failed_runs", "error_rate", "total_credits", "active_users", "avg_response_time_ms")
WINDOWS = (5, 15, 60, 240, 1440)
PLATFORM_RULES = 10

# Rule i: workspace i (round robin; the first few platform-wide), metric i mod 6, window i/6 mod
# 5, and a threshold that some workspaces cross; the same rows go to naive.alert_rules.
SEED_RULES = """
with workspaces as (
    select id, row_number() over (order by id) - 1 as n, count(*) over () as total from public.workspaces
),
numbered as (
    select i, (%(metrics)s::text [])[1 + i %% %(metric_count)s] as metric_type,
           (%(windows)s::integer [])[1 + (i / %(metric_count)s) %% %(window_count)s] as minutes
    from generate_series(0, %(rules)s - 1) as i
)
insert into analytics.alert_rules
    (workspace_id, name, metric_type, condition, threshold_value, evaluation_window_minutes)
select
    case when numbered.i >= %(platform)s then workspaces.id end,
    'bench rule ' || numbered.i,
    numbered.metric_type,
    'greater_than',
    case numbered.metric_type when 'error_rate' then 20 when 'avg_response_time_ms' then 400 else 3 end,
    numbered.minutes
from numbered
join workspaces on workspaces.n = numbered.i %% workspaces.total
"""

COPY_TO_NAIVE = """
insert into naive.alert_rules (id, workspace_id, name, metric_type, condition, threshold_value,
                               evaluation_window_minutes, is_active)
select id, workspace_id, name, metric_type, condition, threshold_value, evaluation_window_minutes, is_active
from analytics.alert_rules where is_active
"""


def alert_evaluation(target: db.Connection, repeat: int, limit: float, progress: Progress,
                     rules: int = RULES, at: datetime | None = None) -> AlertEvaluation:
    """Both evaluations `repeat` times at the end of the data (`at`; by default its latest event),
    as service_role runs ours; the per-rule one stopped after `limit` seconds. Needs the naive
    schema's alert tables. The benchmark passes the end its builds saw: the rows its ingestion
    section writes afterwards (204,000 events stamped within ten minutes, at medium) would
    otherwise fill every window the rules read."""
    per_rule_sql = resources.files("agent_analytics").joinpath("sql", "bench_per_rule_alerts.sql").read_text(
        encoding="utf-8")
    with db.connect(target) as conn, conn.transaction():
        conn.execute("update analytics.alert_rules set is_active = false")
        conn.execute("update naive.alert_rules set is_active = false")
        conn.execute(SEED_RULES, {"metrics": list(SHARED_METRICS), "metric_count": len(SHARED_METRICS),
                                  "windows": list(WINDOWS), "window_count": len(WINDOWS), "rules": rules,
                                  "platform": PLATFORM_RULES})
        conn.execute(COPY_TO_NAIVE)
        conn.execute(per_rule_sql)
        if at is None:
            at = conn.execute("select max(created_at) from analytics.user_activity").fetchone()[0]
    with db.connect(target) as conn:
        conn.execute("analyze analytics.alert_rules")
        conn.execute("analyze naive.alert_rules")
        ours: list[float] = []
        per_rule: list[float] = []
        for index in range(repeat):
            ours.append(db.timed(conn, "select analytics.evaluate_alerts(%s)", (at,), role="service_role"))
            seconds = db.timed(conn, "select naive.evaluate_alerts_per_rule(%s)", (at,), limit=limit)
            if seconds is not None:
                per_rule.append(seconds)
            progress(f"alert evaluation, {rules:,} rules", index + 1, repeat, index + 1)
        firing = conn.execute("select count(*) from analytics.alert_rule_states where state = 'firing'").fetchone()[0]
    ours_summary, per_rule_summary = summary(ours), summary(per_rule)
    return AlertEvaluation(rules=rules, evaluated_at=at.isoformat(), firing=firing, ours=ours_summary,
                           per_rule=per_rule_summary, ratio=ratio(ours_summary.p50, per_rule_summary.p50))
