{{
    incremental_grain(
        takes_in=['runs'],
        tested_since='metric_date',
        unique_key='id',
        grants={'select': rollup_readers()},
        pre_hook=["{{ widen_columns({'total_credits': credit_sum_type(), 'avg_credits_per_run': credit_average_type()}) }}"],
        post_hook=[
            "{{ ensure_table_ddl(
                not_null=['agent_id', 'metric_date', 'created_at', 'updated_at'],
                defaults={
                    'id': 'gen_random_uuid()', 'created_at': 'now()', 'updated_at': 'now()', 'total_runs': '0',
                    'successful_runs': '0', 'failed_runs': '0', 'cancelled_runs': '0', 'total_credits': '0',
                    'total_tokens_used': '0', 'unique_users': '0', 'total_feedback_count': '0',
                    'error_types': \"'{}'::jsonb\", 'common_failure_reasons': \"'[]'::jsonb\",
                },
                constraints={
                    'agent_performance_pkey': 'primary key (id)',
                    'unique_agent_performance': 'unique (agent_id, metric_date)',
                    'agent_performance_agent_id_fkey': cascade_to_app('agent_id', 'agents'),
                    'agent_performance_workspace_id_fkey': cascade_to_app('workspace_id', 'workspaces'),
                    'agent_performance_rating_check': 'check (avg_user_rating between 1 and 5)',
                },
            ) }}",
            "{{ drop_covered_index('idx_agent_performance_agent') }}",
            "{{ ensure_index('idx_agent_performance_date', '(metric_date desc)') }}",
            "{{ drop_covered_index('idx_agent_performance_workspace') }}",
            "{{ ensure_index('idx_agent_performance_composite', '(workspace_id, metric_date desc, total_runs desc)') }}",
            "{{ ensure_updated_at_trigger() }}",
            "{{ enable_workspace_rls() }}",
            "{{ delete_days_without_runs('metric_date') }}",
        ],
    )
}}

{#- One row per agent and UTC day on which it ran. A build recomputes the agent-days of the
    runs it takes in, from all of their runs. #}
with runs as (
    {{ runs_of_touched_agent_days(ref('int_agent_runs')) }}
),

agents as (
    select * from {{ ref('stg_app__agents') }}
),

daily_runs as (
    select
        run_date as metric_date,
        *
    from runs
),

run_stats as (
    select
        agent_id,
        metric_date,
        count(*) as total_runs,
        count(*) filter (where is_successful) as successful_runs,
        count(*) filter (where is_failed) as failed_runs,
        count(*) filter (where is_cancelled) as cancelled_runs,
        avg(runtime_seconds) as avg_runtime_seconds,
        min(runtime_seconds) as min_runtime_seconds,
        max(runtime_seconds) as max_runtime_seconds,
        percentile_cont(0.5) within group (order by runtime_seconds) as p50_runtime_seconds,
        percentile_cont(0.75) within group (order by runtime_seconds) as p75_runtime_seconds,
        percentile_cont(0.95) within group (order by runtime_seconds) as p95_runtime_seconds,
        percentile_cont(0.99) within group (order by runtime_seconds) as p99_runtime_seconds,
        sum(credits_consumed) as total_credits,
        sum(tokens_used) as total_tokens_used,
        count(distinct user_id) as unique_users,
        avg(user_rating) as avg_user_rating,
        count(*) filter (where has_feedback) as total_feedback_count
    from daily_runs
    group by 1, 2
),

error_types as (
    select
        agent_id,
        metric_date,
        jsonb_object_agg(error_type, failures order by error_type) as error_types
    from (
        select
            agent_id,
            metric_date,
            failure_type as error_type,
            count(*) as failures
        from daily_runs
        where is_failed
        group by 1, 2, 3
    ) as per_type
    group by 1, 2
),

failure_reasons as (
    select
        agent_id,
        metric_date,
        jsonb_agg(
            jsonb_build_object('reason', error_message, 'count', failures)
            order by failures desc, error_message asc
        ) filter (where reason_rank <= 5
        ) as common_failure_reasons
    from (
        select
            agent_id,
            metric_date,
            error_message,
            count(*) as failures,
            row_number() over (
                partition by agent_id, metric_date order by count(*) desc, error_message
            ) as reason_rank
        from daily_runs
        where is_failed and error_message is not null
        group by 1, 2, 3
    ) as per_reason
    group by 1, 2
),

final as (
    select
        {{ row_id(['run_stats.agent_id', 'run_stats.metric_date']) | indent(8) }} as id,
        run_stats.agent_id,
        run_stats.metric_date,
        agents.workspace_id,
        run_stats.total_runs::integer as total_runs,
        run_stats.successful_runs::integer as successful_runs,
        run_stats.failed_runs::integer as failed_runs,
        run_stats.cancelled_runs::integer as cancelled_runs,
        run_stats.avg_runtime_seconds::numeric(10, 2) as avg_runtime_seconds,
        run_stats.min_runtime_seconds::numeric(10, 2) as min_runtime_seconds,
        run_stats.max_runtime_seconds::numeric(10, 2) as max_runtime_seconds,
        run_stats.p50_runtime_seconds::numeric(10, 2) as p50_runtime_seconds,
        run_stats.p75_runtime_seconds::numeric(10, 2) as p75_runtime_seconds,
        run_stats.p95_runtime_seconds::numeric(10, 2) as p95_runtime_seconds,
        run_stats.p99_runtime_seconds::numeric(10, 2) as p99_runtime_seconds,
        run_stats.total_credits::{{ credit_sum_type() }} as total_credits,
        (run_stats.total_credits / run_stats.total_runs)::{{ credit_average_type() }} as avg_credits_per_run,
        run_stats.total_tokens_used::bigint as total_tokens_used,
        round(run_stats.total_tokens_used::numeric / run_stats.total_runs)::integer as avg_tokens_per_run,
        run_stats.unique_users::integer as unique_users,
        run_stats.avg_user_rating::numeric(3, 2) as avg_user_rating,
        run_stats.total_feedback_count::integer as total_feedback_count,
        coalesce(error_types.error_types, '{}'::jsonb) as error_types,
        coalesce(failure_reasons.common_failure_reasons, '[]'::jsonb) as common_failure_reasons,
        {{ rollup_timestamps() | indent(8) }}
    from run_stats
    inner join agents on run_stats.agent_id = agents.agent_id
    left join error_types
        on run_stats.agent_id = error_types.agent_id and run_stats.metric_date = error_types.metric_date
    left join failure_reasons
        on run_stats.agent_id = failure_reasons.agent_id and run_stats.metric_date = failure_reasons.metric_date
)

select * from final
