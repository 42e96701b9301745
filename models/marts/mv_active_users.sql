{{
    config(
        materialized='materialized_view',
        persist_docs={'relation': true, 'columns': false},
        indexes=[{'columns': ['activity_date', 'workspace_id'], 'unique': true}],
        post_hook=[
            "{{ drop_swapped_out_backup('materialized view') }}",
            "{{ name_index('idx_mv_active_users', ['activity_date', 'workspace_id']) }}",
        ],
    )
}}

{#-
    DAU, and rolling WAU (7 days ending that date) and MAU (30 days), for each of the last 90
    UTC days on which the workspace (or the platform, workspace_id NULL) had a user active in
    the 30 days before. Each user-day covers the dates until their next active day or 29 days
    on, so the distinct counts come from a running sum instead of a 30-fold join.
-#}
with window_days as (
    select
        {{ utc_today() }} - 89 as first_day,
        {{ utc_today() }} as last_day
),

user_days as (
    select
        user_days.scope_id,
        user_days.user_id,
        user_days.activity_date
    from {{ ref('int_user_scope_days') }} as user_days
    cross join window_days
    where user_days.activity_date between window_days.first_day - 29 and window_days.last_day
),

user_spans as (
    select
        scope_id,
        user_id,
        activity_date,
        lead(activity_date) over (partition by scope_id, user_id order by activity_date) as next_active_date
    from user_days
),

{# Each user-day starts counting toward DAU, WAU and MAU on its day and stops the day after
   it, 7 days on, 30 days on, or at the user's next active day, whichever is first. #}
changes as (
    select
        user_spans.scope_id,
        change.change_date,
        change.dau,
        change.wau,
        change.mau
    from user_spans
    cross join lateral (
        values
        (user_spans.activity_date, 1, 1, 1),
        (user_spans.activity_date + 1, -1, 0, 0),
        (least(user_spans.activity_date + 7, user_spans.next_active_date), 0, -1, 0),
        (least(user_spans.activity_date + 30, user_spans.next_active_date), 0, 0, -1)
    ) as change (change_date, dau, wau, mau)
),

daily_changes as (
    select
        scope_id,
        change_date,
        sum(dau) as dau,
        sum(wau) as wau,
        sum(mau) as mau
    from changes
    group by 1, 2
),

calendar as (
    select
        scopes.scope_id,
        day::date as activity_date
    from (select distinct scope_id from user_days) as scopes
    cross join window_days
    cross join generate_series(window_days.first_day - 29, window_days.last_day, interval '1 day') as day
),

running as (
    select
        calendar.scope_id,
        calendar.activity_date,
        sum(coalesce(daily_changes.dau, 0)) over scope_days as daily_active_users,
        sum(coalesce(daily_changes.wau, 0)) over scope_days as weekly_active_users,
        sum(coalesce(daily_changes.mau, 0)) over scope_days as monthly_active_users
    from calendar
    left join daily_changes
        on calendar.scope_id = daily_changes.scope_id and calendar.activity_date = daily_changes.change_date
    window scope_days as (partition by calendar.scope_id order by calendar.activity_date)
),

final as (
    select
        running.activity_date,
        {{ workspace_from_scope('running.scope_id') }} as workspace_id,
        running.daily_active_users::integer as daily_active_users,
        running.weekly_active_users::integer as weekly_active_users,
        running.monthly_active_users::integer as monthly_active_users
    from running
    cross join window_days
    where running.activity_date >= window_days.first_day and running.monthly_active_users > 0
)

select * from final
