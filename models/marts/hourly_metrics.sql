{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since='metric_hour',
        unique_key='id',
        grants={'select': rollup_readers()},
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
            "{{ create_live_hourly_functions(ref('stg_analytics__user_activity'), ref('int_agent_runs')) }}",
        ],
    )
}}

{#- One row per UTC hour with activity, per workspace and for the platform; the open hour
    too. Every hour that what a build takes in touches is recomputed whole. Only the hours
    the retention keeps are built (from the UTC day hourly_retention_days before today):
    cleanup_old_data() deletes older ones, so building them would be work thrown away. -#}
{%- set hours = hours_taken_in(ref('stg_analytics__user_activity'), ref('stg_app__agent_runs')) %}
{%- set horizon = utc_day_start(utc_today() ~ ' - ' ~ checked_var('hourly_retention_days')) %}

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

{{ hourly_metrics_rows() }}
