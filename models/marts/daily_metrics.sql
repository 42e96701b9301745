{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since='metric_date',
        unique_key='id',
        grants={'select': rollup_readers()},
        bucket_column='metric_date',
        pre_hook=["{{ widen_columns({'total_credits_consumed': credit_sum_type(), 'avg_credits_per_run': credit_average_type()}) }}"],
        post_hook=[
            "{{ ensure_table_ddl(
                not_null=['metric_date', 'created_at', 'updated_at'],
                defaults={
                    'id': 'gen_random_uuid()', 'created_at': 'now()', 'updated_at': 'now()',
                    'total_users': '0', 'active_users': '0', 'new_users': '0', 'returning_users': '0',
                    'total_sessions': '0', 'total_runs': '0', 'successful_runs': '0', 'failed_runs': '0',
                    'cancelled_runs': '0', 'total_credits_consumed': '0', 'credits_by_model': \"'{}'::jsonb\",
                    'unique_agents_run': '0', 'top_agents': \"'[]'::jsonb\", 'total_errors': '0',
                    'errors_by_type': \"'{}'::jsonb\",
                },
                constraints={
                    'daily_metrics_pkey': 'primary key (id)',
                    'unique_daily_metric': 'unique nulls not distinct (metric_date, workspace_id)',
                    'daily_metrics_workspace_id_fkey': cascade_to_app('workspace_id', 'workspaces'),
                    'daily_metrics_bounce_rate_check': 'check (bounce_rate between 0 and 100)',
                    'daily_metrics_error_rate_check': 'check (error_rate between 0 and 100)',
                },
            ) }}",
            "{{ drop_covered_index('idx_daily_metrics_date') }}",
            "{{ ensure_index('idx_daily_metrics_workspace', '(workspace_id, metric_date desc)') }}",
            "{{ drop_covered_index('idx_daily_metrics_date_brin') }}",
            "{{ ensure_updated_at_trigger() }}",
            "{{ enable_workspace_rls() }}",
            "{{ create_aggregate_daily_metrics_function() }}",
            "{{ delete_days_without_activity() }}",
            "{{ recount_total_users() }}",
            "{{ create_live_daily_functions(ref('stg_analytics__user_activity'), ref('int_agent_runs'), ref('int_user_first_seen')) }}",
        ],
    )
}}

{#- Every day that what this build takes in touches is recomputed whole, for every scope. #}
{%- set days = days_taken_in(
    ref('stg_analytics__user_activity'), ref('stg_app__agent_runs'), ref('int_sessions'),
    ref('int_user_first_seen'), ref('int_user_scope_days'),
) %}
{{ daily_metrics_rows(days) }}
