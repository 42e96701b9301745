-- The queries a dashboard on this schema runs, timed by `agent-analytics bench`.
--
-- Each query starts at a `-- name:` line; `-- what:` says what it is for, and `-- roles:`
-- which callers run it (default: member and service). `{schema}` is `analytics` or `naive`
-- (the spec's SQL, for the baseline); %(...)s are the sampled parameters. Members and
-- service_role run the same query: RLS picks the member's rows (the spec's materialized views
-- are tables with RLS here; naive's are open to every role, as the spec makes them). A
-- `-- member:` block replaces the query for members of our schema, for what they reach only
-- through a function (the live figures). An `-- ours:` block replaces it on our schema for
-- every caller (a member block, if any, still wins for members): for what the spec has no
-- counterpart of, such as the live figures.

-- name: daily_30d
-- what: a workspace's daily metrics for the last 30 days
select *
from {schema}.daily_metrics
where workspace_id = %(workspace_id)s and metric_date > (now() at time zone 'UTC')::date - 30
order by metric_date desc;

-- name: my_workspaces_30d
-- what: the same request without a workspace filter: RLS alone picks the member's workspaces
-- roles: member
select workspace_id, metric_date, active_users, total_runs, total_credits_consumed
from {schema}.daily_metrics
where metric_date > (now() at time zone 'UTC')::date - 30
order by workspace_id, metric_date desc;

-- name: hourly_today
-- what: a workspace's hourly metrics for the current UTC day
select *
from {schema}.hourly_metrics
where workspace_id = %(workspace_id)s
  and metric_hour >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'
order by metric_hour;

-- name: hourly_today_live
-- what: the same hours read live: built up to what the builds took in, the rest from the raw rows (naive: its table)
-- snapshot: live
select *
from {schema}.hourly_metrics
where workspace_id = %(workspace_id)s
  and metric_hour >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'
order by metric_hour;
-- ours:
select * from {schema}.live_hourly_metrics(%(workspace_id)s) order by metric_hour;
-- member:
select * from {schema}.member_live_hourly_metrics(%(workspace_id)s) order by metric_hour;

-- name: today_live
-- what: a workspace's figures for the current UTC day, live (naive: its table's row for the day)
-- snapshot: live
select active_users, new_users, total_runs, successful_runs, failed_runs, total_credits_consumed, total_errors
from {schema}.daily_metrics
where workspace_id = %(workspace_id)s and metric_date = (now() at time zone 'UTC')::date;
-- ours:
select active_users, new_users, total_runs, successful_runs, failed_runs, total_credits_consumed, total_errors
from {schema}.live_daily_metrics(%(workspace_id)s);
-- member:
select active_users, new_users, total_runs, successful_runs, failed_runs, total_credits_consumed, total_errors
from {schema}.member_live_daily_metrics(%(workspace_id)s);

-- name: top_agents
-- what: a workspace's ten busiest agents of the last 30 days
select *
from {schema}.mv_top_agents
where workspace_id = %(workspace_id)s
order by total_runs_30d desc
limit 10;

-- name: agent_trend
-- what: one agent's daily runs, success and p95 runtime over the last 30 days
select metric_date, total_runs, successful_runs, failed_runs, p95_runtime_seconds, total_credits
from {schema}.agent_performance
where agent_id = %(agent_id)s and metric_date > (now() at time zone 'UTC')::date - 30
order by metric_date;

-- name: active_users
-- what: a workspace's DAU, WAU and MAU for the last 30 days
select *
from {schema}.mv_active_users
where workspace_id = %(workspace_id)s and activity_date > (now() at time zone 'UTC')::date - 30
order by activity_date desc;

-- name: workspace_summary
-- what: a workspace's summary card (members, agents, runs, credits, active users)
select *
from {schema}.mv_workspace_summary
where workspace_id = %(workspace_id)s;

-- name: cohorts
-- what: a workspace's twelve latest weekly cohorts with their retention
select cohort_date, initial_users, retention_data, churn_rate, ltv_estimate
from {schema}.user_cohorts
where workspace_id = %(workspace_id)s and cohort_period = 'weekly'
order by cohort_date desc
limit 12;

-- The event queries carry their time window as values from the client, as PostgREST filters
-- do (created_at=gte.<timestamp>&created_at=lt.<timestamp>): the planner then opens only
-- those weeks' partitions. (A bound computed in SQL, such as now() - interval '1 day', is not
-- known when the plan is made, so every partition would be planned.) The upper bound is the
-- client's now plus a day, the furthest ahead a stored event can be (the staging view's
-- plausibility bound): without it, the week made ahead and the DEFAULT partition are planned
-- too (four partitions instead of two for seven days).
-- Ours reads the windows of the last days from user_activity_recent, the plain table of the
-- last 8 days that the deploy keeps equal to that part of user_activity: a partitioned table is
-- planned partition by partition at every call, which cost a third to two thirds of naive's
-- throughput (docs/performance.md, "The recent events in a plain table"). A window further
-- back, or a session older than a week, reads user_activity with the same SQL.

-- name: user_recent_activity
-- what: a user's 50 latest events in a workspace over the last 7 days
select created_at, event_type, event_name, page_path, session_id
from {schema}.user_activity
where workspace_id = %(workspace_id)s and user_id = %(user_id)s
  and created_at >= %(since_7d)s and created_at < %(until)s
order by created_at desc
limit 50;
-- ours:
select created_at, event_type, event_name, page_path, session_id
from {schema}.user_activity_recent
where workspace_id = %(workspace_id)s and user_id = %(user_id)s
  and created_at >= %(since_7d)s and created_at < %(until)s
order by created_at desc
limit 50;

-- name: session_events
-- what: every event of one session, in order (opened from one of its events: within a day of it)
select created_at, event_type, event_name, page_path, metadata
from {schema}.user_activity
where session_id = %(session_id)s and created_at >= %(session_from)s and created_at < %(session_to)s
order by created_at;
-- ours:
select created_at, event_type, event_name, page_path, metadata
from {schema}.user_activity_recent
where session_id = %(session_id)s and created_at >= %(session_from)s and created_at < %(session_to)s
order by created_at;

-- name: events_by_metadata
-- what: a workspace's API calls that answered 500 in the last 24 hours (a metadata key)
select created_at, user_id, metadata ->> 'endpoint' as endpoint
from {schema}.user_activity
where workspace_id = %(workspace_id)s
  and metadata @> '{{"status_code": 500}}'
  and created_at >= %(since_1d)s and created_at < %(until)s
order by created_at desc
limit 100;
-- ours:
select created_at, user_id, metadata ->> 'endpoint' as endpoint
from {schema}.user_activity_recent
where workspace_id = %(workspace_id)s
  and metadata @> '{{"status_code": 500}}'
  and created_at >= %(since_1d)s and created_at < %(until)s
order by created_at desc
limit 100;

-- name: open_alerts
-- what: a workspace's unacknowledged alerts, latest first
select id, alert_rule_id, triggered_at, metric_value, threshold_value, notification_status
from {schema}.alert_history
where workspace_id = %(workspace_id)s and acknowledged_at is null
order by triggered_at desc
limit 20;

-- The relations a BI tool charts as they are (docs/bi.md); naive: the same figures out of the
-- spec's JSON columns and raw events, as a BI user would have to write them.

-- name: cost_by_model_30d
-- what: a workspace's credits and cost by LLM model per day, last 30 days
select metric_date, by_model.key as model, by_model.value::numeric as total_credits
from {schema}.daily_metrics, jsonb_each_text(credits_by_model) as by_model
where workspace_id = %(workspace_id)s and metric_date > (now() at time zone 'UTC')::date - 30
order by metric_date desc, model;
-- ours:
select metric_date, model, total_runs, total_credits, total_cost_usd
from {schema}.model_costs_daily
where workspace_id = %(workspace_id)s and metric_date > (now() at time zone 'UTC')::date - 30
order by metric_date desc, model;

-- name: errors_by_type_30d
-- what: a workspace's errors by type per day, last 30 days
select metric_date, by_type.key as error_type, by_type.value::integer as errors
from {schema}.daily_metrics, jsonb_each_text(errors_by_type) as by_type
where workspace_id = %(workspace_id)s and metric_date > (now() at time zone 'UTC')::date - 30
order by metric_date desc, error_type;
-- ours:
select metric_date, error_type, errors
from {schema}.errors_daily
where workspace_id = %(workspace_id)s and metric_date > (now() at time zone 'UTC')::date - 30
order by metric_date desc, error_type;

-- name: retention_long
-- what: a workspace's weekly retention curves in long form (cohort, offset, percent)
select cohort_date, split_part(curve.key, '_', 2)::integer as period_offset, curve.value::numeric as retention_percent
from {schema}.user_cohorts, jsonb_each_text(retention_data) as curve
where workspace_id = %(workspace_id)s and cohort_period = 'weekly'
order by cohort_date desc, period_offset;
-- ours:
select cohort_date, period_offset, cohort_users, retention_percent
from {schema}.retention_curves
where workspace_id = %(workspace_id)s and cohort_period = 'weekly'
order by cohort_date desc, period_offset;

-- name: feature_usage_7d
-- what: a workspace's events by type and name per day, last 7 days (naive: counted from the raw events)
select (created_at at time zone 'UTC')::date as metric_date, event_type, event_name, count(*) as events,
       count(distinct user_id) as users
from {schema}.user_activity
where workspace_id = %(workspace_id)s and created_at >= %(since_7d)s and created_at < %(until)s
group by 1, 2, 3
order by 1 desc, 4 desc;
-- ours:
select metric_date, event_type, event_name, events, users
from {schema}.event_usage_daily
where workspace_id = %(workspace_id)s and metric_date >= (%(since_7d)s::timestamptz at time zone 'UTC')::date
order by metric_date desc, events desc;

-- name: activation_weekly
-- what: a workspace's weekly cohorts of new members: how many made an agent, ran one, came back in week 2, and how soon they ran (naive: the first two steps counted from the app's tables)
select date_trunc('week', members.joined_at at time zone 'UTC')::date as cohort_date, count(*) as cohort_users,
       count(*) filter (where exists (
           select from public.agents where agents.workspace_id = members.workspace_id and agents.created_by = members.user_id
       )) as created_agent_users,
       count(*) filter (where exists (
           select from public.agent_runs as runs where runs.workspace_id = members.workspace_id and runs.user_id = members.user_id
       )) as ran_users
from public.workspace_members as members
where members.workspace_id = %(workspace_id)s
group by 1
order by 1 desc;
-- ours:
select cohort_date, cohort_users, created_agent_users, ran_users, returned_week_2_percent, median_hours_to_first_run
from {schema}.activation_funnel
where workspace_id = %(workspace_id)s and cohort_period = 'weekly'
order by cohort_date desc;
