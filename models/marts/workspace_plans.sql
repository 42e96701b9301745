{{
    config(
        materialized='table',
        grants={'select': rollup_readers()},
        post_hook=["{{ enable_workspace_rls() }}"],
    )
}}

{#- The plan as a dimension: one row per workspace with its name and current plan, to join on
    workspace_id to any relation a BI tool charts (the platform rows, workspace_id NULL, join
    nothing). Members read their workspaces' rows (RLS); the app's own table is not theirs to
    read here. Rebuilt whole by every build: a few thousand rows. -#}
with workspaces as (
    select * from {{ ref('stg_app__workspaces') }}
),

final as (
    select
        workspace_id,
        workspace_name,
        plan,
        created_at as workspace_created_at
    from workspaces
)

select * from final
