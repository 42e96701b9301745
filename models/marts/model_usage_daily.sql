{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since='metric_date',
        unique_key='id',
        grants={'select': rollup_readers()},
        bucket_column='metric_date',
        post_hook=[
            "{{ ensure_table_ddl(
                not_null=['metric_date', 'model', 'created_at', 'updated_at'],
                defaults={'id': 'gen_random_uuid()', 'created_at': 'now()', 'updated_at': 'now()'},
                constraints={
                    'model_usage_daily_pkey': 'primary key (id)',
                    'unique_model_usage_daily': 'unique nulls not distinct (metric_date, workspace_id, model)',
                    'model_usage_daily_workspace_id_fkey': cascade_to_app('workspace_id', 'workspaces'),
                },
            ) }}",
            "{{ ensure_index('idx_model_usage_daily_workspace', '(workspace_id, metric_date desc)') }}",
            "{{ ensure_updated_at_trigger() }}",
            "{{ enable_workspace_rls() }}",
            "{{ delete_days_without_runs('metric_date', per_agent=false) }}",
        ],
    )
}}

{#- One row per UTC day, LLM model and workspace whose runs used it that day, plus the
    platform rows: what a BI tool charts as "runs, success, latency, tokens and credits by
    model" without reading JSON. Every day that what a build takes in touches is recomputed
    whole. -#}
{%- set days = days_taken_in(ref('stg_analytics__user_activity'), ref('stg_app__agent_runs')) %}

with runs as (
    select * from {{ ref('int_agent_runs') }}
    where {{ in_days('started_at', days) }}
),

per_model as (
    select
        run_date as metric_date,
        {{ scope_of_grouping('workspace_id') | indent(8) }} as scope_id,
        model,
        count(*) as total_runs,
        count(*) filter (where is_successful) as successful_runs,
        count(*) filter (where is_failed) as failed_runs,
        avg(runtime_seconds) as avg_runtime_seconds,
        percentile_cont(0.5) within group (order by runtime_seconds) as median_runtime_seconds,
        percentile_cont(0.95) within group (order by runtime_seconds) as p95_runtime_seconds,
        sum(tokens_used) as total_tokens_used,
        sum(credits_consumed) as total_credits
    from runs
    group by grouping sets ((run_date, workspace_id, model), (run_date, model))
    having {{ is_scope_grouping('workspace_id') }}
),

final as (
    select
        {{ row_id(['per_model.metric_date', workspace_from_scope('per_model.scope_id'), 'per_model.model'])
            | indent(8) }} as id,
        per_model.metric_date,
        {{ workspace_from_scope('per_model.scope_id') }} as workspace_id,
        per_model.model,
        per_model.total_runs::integer as total_runs,
        per_model.successful_runs::integer as successful_runs,
        per_model.failed_runs::integer as failed_runs,
        (100.0 * per_model.successful_runs / per_model.total_runs)::numeric(5, 2) as success_rate,
        per_model.avg_runtime_seconds::numeric(10, 2) as avg_runtime_seconds,
        per_model.median_runtime_seconds::numeric(10, 2) as median_runtime_seconds,
        per_model.p95_runtime_seconds::numeric(10, 2) as p95_runtime_seconds,
        per_model.total_tokens_used::bigint as total_tokens_used,
        per_model.total_credits::{{ credit_sum_type() }} as total_credits,
        {{ rollup_timestamps() | indent(8) }}
    from per_model
)

select * from final
