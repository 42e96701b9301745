-- Alert rules and their history for `agent-analytics bench` (the generator makes none):
-- three rules per workspace, and one alert every few hours over the last 90 days for each,
-- acknowledged except for the last few days, each resolved after half an hour. Deterministic:
-- the same app gives the same rows.
-- The benchmark copies the same rows into the naive schema.
insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, created_by)
select
    workspaces.id,
    rules.name,
    rules.metric_type,
    rules.condition,
    rules.threshold_value,
    (
        select members.user_id from public.workspace_members as members
        where members.workspace_id = workspaces.id
        order by members.joined_at, members.user_id
        limit 1
    )
from public.workspaces as workspaces
cross join (
    values
    ('High error rate', 'error_rate', 'greater_than', 5),
    ('Credit spike', 'total_credits', 'greater_than', 500),
    ('Nobody active', 'active_users', 'less_than', 1)
) as rules (name, metric_type, condition, threshold_value);

insert into analytics.alert_history (
    alert_rule_id, workspace_id, triggered_at, metric_value, threshold_value, notification_status,
    acknowledged_by, acknowledged_at, state, resolved_at
)
select
    rules.id,
    rules.workspace_id,
    fired.at,
    rules.threshold_value * 1.5,
    rules.threshold_value,
    case when fired.at < now() - interval '3 days' then 'acknowledged' else 'sent' end,
    case when fired.at < now() - interval '3 days' then rules.created_by end,
    case when fired.at < now() - interval '3 days' then fired.at + interval '1 hour' end,
    'resolved',
    fired.at + interval '30 minutes'
from analytics.alert_rules as rules
cross join lateral (
    select now() - make_interval(hours => step * (6 + abs(hashtext(rules.id::text)) % 42)) as at
    from generate_series(1, 90 * 24 / 6) as step
) as fired
where fired.at > now() - interval '90 days';
