{{
    config(
        materialized='refreshed_table',
        grants={'select': rollup_readers()},
        persist_docs={'relation': true, 'columns': false},
        indexes=[
            {'columns': ['agent_id'], 'unique': true},
            {'columns': ['workspace_id', 'total_runs_30d']},
        ],
        post_hook=[
            "{{ name_index('idx_mv_top_agents', ['agent_id']) }}",
            "{{ name_index('idx_mv_top_agents_workspace', ['workspace_id', 'total_runs_30d']) }}",
            "{{ enable_workspace_rls() }}",
            "{{ create_member_function() }}",
        ],
    )
}}

{#- Every agent with its runs of the last 30 UTC days (today included); 0 where it had none.
    The figures add up int_agent_run_days, looked up per agent by index: the median and the
    distinct users come from the days' runtimes and users, so they are exact. -#}
{%- set first_day = utc_today() ~ ' - 29' %}
{%- set last_day = utc_today() %}

with agents as (
    select * from {{ ref('stg_app__agents') }}
),

final as (
    select
        agents.agent_id,
        agents.agent_name,
        agents.workspace_id,
        coalesce(run_stats.total_runs, 0)::integer as total_runs_30d,
        coalesce(run_stats.successful_runs, 0)::integer as successful_runs_30d,
        round(100.0 * run_stats.successful_runs / nullif(run_stats.total_runs, 0), 2) as success_rate,
        run_stats.runtime_sum / nullif(run_stats.runtime_count, 0) as avg_runtime,
        run_stats.median_runtime,
        coalesce(run_stats.total_credits, 0) as total_credits_30d,
        coalesce(run_stats.unique_users, 0)::integer as unique_users_30d,
        run_stats.last_run_at
    from agents
    cross join lateral (
        select
            sum(days.run_count) as total_runs,
            sum(days.completed_count) as successful_runs,
            sum(days.runtime_count) as runtime_count,
            sum(days.runtime_sum) as runtime_sum,
            sum(days.credits) as total_credits,
            max(days.last_run_at) as last_run_at,
            (
                select percentile_cont(0.5) within group (order by runtime.runtime_seconds)
                from {{ ref('int_agent_run_days') }} as runtime_days
                cross join unnest(runtime_days.runtimes) as runtime (runtime_seconds)
                where
                    runtime_days.agent_id = agents.agent_id
                    and runtime_days.run_date between {{ first_day }} and {{ last_day }}
            ) as median_runtime,
            (
                select count(distinct run_user.user_id)
                from {{ ref('int_agent_run_days') }} as user_days
                cross join unnest(user_days.user_ids) as run_user (user_id)
                where
                    user_days.agent_id = agents.agent_id
                    and user_days.run_date between {{ first_day }} and {{ last_day }}
            ) as unique_users
        from {{ ref('int_agent_run_days') }} as days
        where days.agent_id = agents.agent_id and days.run_date between {{ first_day }} and {{ last_day }}
    ) as run_stats
)

select * from final
