{{
    config(
        materialized='refreshed_table',
        grants={'select': rollup_readers()},
        persist_docs={'relation': true, 'columns': false},
        indexes=[
            {'columns': ['activity_date', 'workspace_id'], 'unique': true},
            {'columns': ['workspace_id', 'activity_date']},
        ],
        post_hook=[
            "{{ name_index('idx_mv_active_users', ['activity_date', 'workspace_id']) }}",
            "{{ name_index('idx_mv_active_users_workspace', ['workspace_id', 'activity_date']) }}",
            "{{ enable_workspace_rls() }}",
            "{{ create_member_function() }}",
        ],
    )
}}

{#- The second index serves a member's read, which filters by workspace. -#}
{#-
    DAU, and rolling WAU (7 days ending that date) and MAU (30 days), for each of the last 90
    UTC days on which the workspace (or the platform, workspace_id NULL) had a user active in
    the 30 days before: the last 90 days of int_active_users_daily, which the incremental
    build keeps up to date, so a refresh copies rows instead of counting users.
-#}
with active_users as (
    select * from {{ ref('int_active_users_daily') }}
),

window_days as (
    select
        {{ utc_today() }} - 89 as first_day,
        {{ utc_today() }} as last_day
),

final as (
    select
        active_users.activity_date,
        {{ workspace_from_scope('active_users.scope_id') }} as workspace_id,
        active_users.daily_active_users,
        active_users.weekly_active_users,
        active_users.monthly_active_users
    from active_users
    cross join window_days
    where active_users.activity_date between window_days.first_day and window_days.last_day
)

select * from final
