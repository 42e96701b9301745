{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since='metric_hour',
        unique_key='id',
        grants={'select': ['authenticated', 'service_role']},
        bucket_column='metric_hour',
        pre_hook=["{{ widen_columns({'total_credits': credit_sum_type()}) }}"],
        post_hook=[
            "{{ ensure_table_ddl(
                not_null=['metric_hour', 'created_at'],
                defaults={
                    'id': 'gen_random_uuid()', 'created_at': 'now()', 'active_users': '0', 'total_runs': '0',
                    'successful_runs': '0', 'failed_runs': '0', 'total_credits': '0',
                },
                constraints={
                    'hourly_metrics_pkey': 'primary key (id)',
                    'unique_hourly_metric': 'unique nulls not distinct (metric_hour, workspace_id)',
                    'hourly_metrics_workspace_id_fkey': cascade_to_app('workspace_id', 'workspaces'),
                },
            ) }}",
            "{{ drop_covered_index('idx_hourly_metrics_hour') }}",
            "{{ ensure_index('idx_hourly_metrics_workspace', '(workspace_id, metric_hour desc)') }}",
            "{{ enable_workspace_rls() }}",
            "{{ delete_hours_without_activity() }}",
        ],
    )
}}

{#- One row per UTC hour with activity, per workspace and for the platform; the open hour
    too. Every hour that what a build takes in touches is recomputed whole. Only the hours
    the retention keeps are built (from the UTC day hourly_retention_days before today):
    cleanup_old_data() deletes older ones, so building them would be work thrown away. -#}
{%- set hours = hours_taken_in(ref('stg_analytics__user_activity'), ref('stg_app__agent_runs')) %}
{%- set horizon = utc_day_start(utc_today() ~ ' - ' ~ var('hourly_retention_days')) %}

with user_hours as (
    select * from {{ ref('int_user_activity_hours') }}
    where {{ in_hours('activity_hour', hours) }} and activity_hour >= {{ horizon }}
),

api_calls as (
    select * from {{ ref('stg_analytics__user_activity') }}
    where event_type = 'api_call' and {{ in_hours('created_at', hours) }} and created_at >= {{ horizon }}
),

runs as (
    select * from {{ ref('int_agent_runs') }}
    where {{ in_hours('started_at', hours) }} and started_at >= {{ horizon }}
),

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
    union
    select
        activity_hour as metric_hour,
        {{ platform_scope_id() }} as scope_id,
        user_id
    from user_hours
),

scoped_runs as (
    select
        metric_hour,
        workspace_id as scope_id,
        is_successful,
        is_failed,
        credits_consumed
    from hourly_runs
    union all
    select
        metric_hour,
        {{ platform_scope_id() }},
        is_successful,
        is_failed,
        credits_consumed
    from hourly_runs
),

scoped_api_calls as (
    select
        {{ utc_hour('created_at') }} as metric_hour,
        workspace_id as scope_id,
        response_time_ms
    from api_calls
    where workspace_id is not null
    union all
    select
        {{ utc_hour('created_at') }} as metric_hour,
        {{ platform_scope_id() }},
        response_time_ms
    from api_calls
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
