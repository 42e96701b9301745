{{ config(materialized='replaceable_view') }}

{#- One row per scope (a workspace, or the platform), user and UTC day with activity: the
    grain that first-seen days, cohorts and rolling active users count from. A view, so a
    filter on activity_date reaches int_user_activity_days' index. #}
with activity as (
    select * from {{ ref('int_user_activity_days') }}
),

scoped as (
    select
        workspace_id as scope_id,
        user_id,
        activity_date,
        run_credits
    from activity
    where workspace_id is not null
    union all
    select
        {{ platform_scope_id() }} as scope_id,
        user_id,
        activity_date,
        run_credits
    from activity
),

final as (
    select
        scope_id,
        user_id,
        activity_date,
        sum(run_credits) as run_credits
    from scoped
    group by scope_id, user_id, activity_date
)

select * from final
