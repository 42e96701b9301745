{{
    config(
        materialized='refreshed_table',
        grants={'select': rollup_readers()},
        persist_docs={'relation': true, 'columns': false},
        indexes=[{'columns': ['workspace_id'], 'unique': true}],
        post_hook=[
            "{{ name_index('idx_mv_workspace_summary', ['workspace_id']) }}",
            "{{ enable_workspace_rls() }}",
            "{{ create_member_function() }}",
        ],
    )
}}

{#- Every workspace; each figure aggregated on its own, so no join multiplies another (S3). #}
with workspaces as (
    select * from {{ ref('stg_app__workspaces') }}
),

member_counts as (
    select
        workspace_id,
        count(*) as total_members
    from {{ ref('stg_app__workspace_members') }}
    group by workspace_id
),

agent_counts as (
    select
        workspace_id,
        count(*) as total_agents
    from {{ ref('stg_app__agents') }}
    group by workspace_id
),

run_stats as (
    select
        workspace_id,
        count(*) as total_runs,
        sum(credits_consumed) as total_credits,
        avg(runtime_seconds) as avg_runtime
    from {{ ref('int_agent_runs') }}
    where
        started_at >= {{ utc_day_start(utc_today() ~ ' - 29') }}
        and started_at < {{ utc_day_start(utc_today() ~ ' + 1') }}
    group by workspace_id
),

{# users active (an event or a run) in the 30 days ending today: that day's MAU #}
active_users as (
    select
        scope_id as workspace_id,
        monthly_active_users as active_users
    from {{ ref('int_active_users_daily') }}
    where activity_date = {{ utc_today() }}
),

final as (
    select
        workspaces.workspace_id,
        workspaces.workspace_name,
        coalesce(member_counts.total_members, 0)::integer as total_members,
        coalesce(agent_counts.total_agents, 0)::integer as total_agents,
        coalesce(run_stats.total_runs, 0)::integer as total_runs_30d,
        coalesce(run_stats.total_credits, 0) as total_credits_30d,
        run_stats.avg_runtime as avg_runtime_30d,
        coalesce(active_users.active_users, 0)::integer as active_users_30d
    from workspaces
    left join member_counts on workspaces.workspace_id = member_counts.workspace_id
    left join agent_counts on workspaces.workspace_id = agent_counts.workspace_id
    left join run_stats on workspaces.workspace_id = run_stats.workspace_id
    left join active_users on workspaces.workspace_id = active_users.workspace_id
)

select * from final
