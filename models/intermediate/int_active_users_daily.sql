{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since='activity_date',
        unique_key='id',
        bucket_column='activity_date',
        post_hook=[
            "{{ ensure_table_ddl(constraints={'int_active_users_daily_pkey': 'primary key (id)'}) }}",
            "{{ ensure_index('int_active_users_daily_date_idx', '(activity_date, scope_id)') }}",
            "{{ delete_days_nobody_counts() }}",
        ],
    )
}}

{#-
    DAU, WAU and MAU of every scope for every UTC day up to today on which the scope had a
    user active in the 30 days before. A user's rows in int_user_scope_days never overlap
    (each keeps the user counted until the next active day at the latest), so the rows
    covering a day count its distinct users: no 30-fold join, no distinct. A build recomputes
    the days from the earliest one that what it takes in touches, and every day since it
    last ran, up to today.
-#}
{%- set since = earliest_taken_in(ref('stg_analytics__user_activity'), ref('stg_app__agent_runs')) %}

with window_days as (
    select
        {% if is_incremental() %}
            least(
                {{ utc_date(since) }},
                coalesce((select max(known.activity_date) from {{ this }} as known), {{ utc_today() }}),
                {{ utc_today() }}
            )
        {% else %}
            (select min(days.activity_date) from {{ ref('int_user_scope_days') }} as days)
        {% endif %} as first_day,
        {{ utc_today() }} as last_day
),

covering as (
    select
        days.scope_id,
        days.activity_date,
        days.wau_end_date,
        days.mau_end_date
    from {{ ref('int_user_scope_days') }} as days
    cross join window_days
    where days.mau_end_date > window_days.first_day and days.activity_date <= window_days.last_day
),

covered_days as (
    select
        covering.scope_id,
        covered.day::date as activity_date,
        covered.day::date = covering.activity_date as is_active,
        covered.day::date < covering.wau_end_date as is_weekly
    from covering
    cross join window_days
    cross join lateral generate_series(
        greatest(covering.activity_date, window_days.first_day),
        least(covering.mau_end_date - 1, window_days.last_day),
        interval '1 day'
    ) as covered (day)
),

final as (
    select
        {{ row_id(['scope_id', 'activity_date']) | indent(8) }} as id,
        scope_id,
        activity_date,
        (count(*) filter (where is_active))::integer as daily_active_users,
        (count(*) filter (where is_weekly))::integer as weekly_active_users,
        count(*)::integer as monthly_active_users
    from covered_days
    group by scope_id, activity_date
)

select * from final
