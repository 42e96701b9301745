{% macro hourly_metrics_rows(with_platform=true) %}
{#-
    The rows of analytics.hourly_metrics, from three CTEs the caller defines over the hours it
    wants: user_hours (activity_hour, workspace_id, user_id: one row per user-hour with an
    event or a run), api_calls (the staging view's api_call events) and runs (int_agent_runs).
    Shared by the model, which reads what a build takes in, and by the live functions
    (macros/rollups/live_metrics.sql), which read the hours no build has taken in yet, so that
    both give one answer. with_platform=false leaves the platform's rows out (a few workspaces'
    live rows: the platform's would be of those workspaces only, and cost as much again).
    Definitions: metrics.md.
-#}
hourly_runs as (
    select
        runs.run_hour as metric_hour,
        runs.*
    from runs
),

scoped_activity as (
    select
        activity_hour as metric_hour,
        workspace_id as scope_id,
        user_id
    from user_hours
    where workspace_id is not null
    {%- if with_platform %}
    union
    select
        activity_hour as metric_hour,
        {{ platform_scope_id() }} as scope_id,
        user_id
    from user_hours
    {%- endif %}
),

scoped_runs as (
    select
        metric_hour,
        workspace_id as scope_id,
        is_successful,
        is_failed,
        credits_consumed
    from hourly_runs
    {%- if with_platform %}
    union all
    select
        metric_hour,
        {{ platform_scope_id() }},
        is_successful,
        is_failed,
        credits_consumed
    from hourly_runs
    {%- endif %}
),

scoped_api_calls as (
    select
        {{ utc_hour('created_at') }} as metric_hour,
        workspace_id as scope_id,
        response_time_ms
    from api_calls
    where workspace_id is not null
    {%- if with_platform %}
    union all
    select
        {{ utc_hour('created_at') }} as metric_hour,
        {{ platform_scope_id() }},
        response_time_ms
    from api_calls
    {%- endif %}
),

user_counts as (
    select
        metric_hour,
        scope_id,
        count(*) as active_users
    from scoped_activity
    group by 1, 2
),

run_stats as (
    select
        metric_hour,
        scope_id,
        count(*) as total_runs,
        count(*) filter (where is_successful) as successful_runs,
        count(*) filter (where is_failed) as failed_runs,
        sum(credits_consumed) as total_credits
    from scoped_runs
    group by 1, 2
),

response_times as (
    select
        metric_hour,
        scope_id,
        avg(response_time_ms) as avg_response_time_ms,
        percentile_cont(0.95) within group (order by response_time_ms) as p95_response_time_ms
    from scoped_api_calls
    group by 1, 2
),

final as (
    select
        {# the epoch, not the text of the hour, which depends on TimeZone #}
        {{ row_id(['extract(epoch from user_counts.metric_hour)', 'user_counts.scope_id']) | indent(8) }} as id,
        user_counts.metric_hour,
        {{ workspace_from_scope('user_counts.scope_id') }} as workspace_id,
        user_counts.active_users::integer as active_users,
        coalesce(run_stats.total_runs, 0)::integer as total_runs,
        coalesce(run_stats.successful_runs, 0)::integer as successful_runs,
        coalesce(run_stats.failed_runs, 0)::integer as failed_runs,
        coalesce(run_stats.total_credits, 0)::{{ credit_sum_type() }} as total_credits,
        round(response_times.avg_response_time_ms)::integer as avg_response_time_ms,
        round(response_times.p95_response_time_ms::numeric)::integer as p95_response_time_ms,
        {{ rollup_timestamps(updated=false) | indent(8) }}
    from user_counts
    left join run_stats using (metric_hour, scope_id)
    left join response_times using (metric_hour, scope_id)
)

select * from final
{% endmacro %}
