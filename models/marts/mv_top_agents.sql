{{
    config(
        materialized='materialized_view',
        persist_docs={'relation': true, 'columns': false},
        indexes=[
            {'columns': ['agent_id'], 'unique': true},
            {'columns': ['workspace_id', 'total_runs_30d']},
        ],
        post_hook=[
            "{{ drop_swapped_out_backup('materialized view') }}",
            "{{ name_index('idx_mv_top_agents', ['agent_id']) }}",
            "{{ name_index('idx_mv_top_agents_workspace', ['workspace_id', 'total_runs_30d']) }}",
        ],
    )
}}

{#- Every agent with its runs of the last 30 UTC days (today included); 0 where it had none. #}
with runs as (
    select * from {{ ref('stg_app__agent_runs') }}
    where
        started_at >= {{ utc_day_start(utc_today() ~ ' - 29') }}
        and started_at < {{ utc_day_start(utc_today() ~ ' + 1') }}
),

agents as (
    select * from {{ ref('stg_app__agents') }}
),

run_stats as (
    select
        agent_id,
        count(*) as total_runs,
        count(*) filter (where status = 'completed') as successful_runs,
        avg(runtime_seconds) as avg_runtime,
        percentile_cont(0.5) within group (order by runtime_seconds) as median_runtime,
        sum(credits_consumed) as total_credits,
        count(distinct user_id) as unique_users,
        max(started_at) as last_run_at
    from runs
    group by agent_id
),

final as (
    select
        agents.agent_id,
        agents.agent_name,
        agents.workspace_id,
        coalesce(run_stats.total_runs, 0)::integer as total_runs_30d,
        coalesce(run_stats.successful_runs, 0)::integer as successful_runs_30d,
        round(100.0 * run_stats.successful_runs / nullif(run_stats.total_runs, 0), 2) as success_rate,
        run_stats.avg_runtime,
        run_stats.median_runtime,
        coalesce(run_stats.total_credits, 0) as total_credits_30d,
        coalesce(run_stats.unique_users, 0)::integer as unique_users_30d,
        run_stats.last_run_at
    from agents
    left join run_stats on agents.agent_id = run_stats.agent_id
)

select * from final
