{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since='period_start',
        unique_key='id',
        bucket_column=['scope_id', 'period', 'period_start'],
        pre_hook=["{{ widen_columns({'run_credits': credit_grain_type()}) }}"],
        post_hook=[
            "{{ ensure_table_ddl(constraints={'int_cohort_activity_pkey': 'primary key (id)'}) }}",
            "{{ ensure_index('int_cohort_activity_bucket_idx', '(scope_id, period, period_start)') }}",
            "{{ delete_emptied_rows('active_users = 0') }}",
        ],
    )
}}

{#-
    How many users first seen on each day (a daily cohort) were active in each later day, ISO
    week and month, per scope, and the credits of their runs each day. Weekly and monthly
    cohorts are unions of daily ones, so user_cohorts adds these rows up instead of going
    back to the users. A build recomputes the days, weeks and months that what it takes in
    touches, and every period of users whose first-seen day may just have moved.
-#}

{#- The grains are read by name where they are used, not through shared CTEs: a CTE read
    more than once is materialized whole, and these are large. #}
{% if is_incremental() %}
    with arrivals as (
        {{ arrivals('day', 'activity_date') }}
    ),

    touched_days as (
        {{ in_both_scopes('arrivals', 'activity_date') }}
    ),

    {# A touched user whose first touched day is their first-seen day may have just moved
        to an earlier cohort (or just appeared): every period they were active in changes. #}
    moved_days as (
        select
            scope_days.scope_id,
            scope_days.user_id,
            scope_days.activity_date
        from {{ ref('int_user_scope_days') }} as scope_days
        inner join (
            {{ users_whose_first_day_moved('touched_days', 'activity_date', ref('int_user_first_seen')) }}
        ) as moved
            on scope_days.scope_id = moved.scope_id and scope_days.user_id = moved.user_id
    ),

    changed_days as (
        select * from touched_days
        union
        select * from moved_days
    ),

    {# the day, ISO week and month of each changed day #}
    dirty as (
        select distinct
            changed_days.scope_id,
            periods.period,
            date_trunc(periods.period, changed_days.activity_date::timestamp)::date as period_start
        from changed_days
        cross join (values ('day'), ('week'), ('month')) as periods (period)
    ),
{% endif %}

{# Each user counted once per period: every day, the first day of each week and month. #}
{% if not is_incremental() %}with {% endif %}period_members as (
    select
        scope_days.scope_id,
        'day' as period,
        scope_days.activity_date as period_start,
        scope_days.user_id,
        scope_days.run_credits
    from {{ ref('int_user_scope_days') }} as scope_days
    {% if is_incremental() %}
        inner join dirty
            on
                dirty.period = 'day'
                and scope_days.activity_date = dirty.period_start
                and scope_days.scope_id = dirty.scope_id
    {% endif %}
    {%- for period in ['week', 'month'] %}
        union all
        select
            scope_days.scope_id,
            '{{ period }}' as period,
            date_trunc('{{ period }}', scope_days.activity_date::timestamp)::date as period_start,
            scope_days.user_id,
            null as run_credits
        from {{ ref('int_user_scope_days') }} as scope_days
        {% if is_incremental() %}
            inner join dirty
                on
                    dirty.period = '{{ period }}'
                    and scope_days.scope_id = dirty.scope_id
                    and scope_days.activity_date >= dirty.period_start
                    and scope_days.activity_date < (dirty.period_start + interval '1 {{ period }}')::date
        {% endif %}
        where scope_days.is_first_in_{{ period }}
    {%- endfor %}
),

cohorts as (
    select
        {{ row_id(['period_members.scope_id', 'first_seen.first_seen_date', 'period_members.period',
                   'period_members.period_start']) | indent(8) }} as id,
        period_members.scope_id,
        first_seen.first_seen_date as cohort_day,
        period_members.period::varchar(5) as period,
        period_members.period_start,
        count(*)::integer as active_users,
        sum(period_members.run_credits)::{{ credit_grain_type() }} as run_credits
    from period_members
    inner join {{ ref('int_user_first_seen') }} as first_seen
        on period_members.scope_id = first_seen.scope_id and period_members.user_id = first_seen.user_id
    group by period_members.scope_id, first_seen.first_seen_date, period_members.period, period_members.period_start
),

final as (
    select * from cohorts
    {% if is_incremental() %}
        {#- a recomputed period left with nobody (their activity was deleted): one row with no
            users stands for it, so that the period's old rows are replaced, and the post-hook
            removes it #}
        union all
        select
            {{ row_id(['dirty.scope_id', 'dirty.period', 'dirty.period_start']) | indent(12) }} as id,
            dirty.scope_id,
            null::date as cohort_day,
            dirty.period::varchar(5) as period,
            dirty.period_start,
            0 as active_users,
            null::{{ credit_grain_type() }} as run_credits
        from dirty
        where not exists (
            select from cohorts
            where
                cohorts.scope_id = dirty.scope_id
                and cohorts.period = dirty.period
                and cohorts.period_start = dirty.period_start
        )
    {% endif %}
)

select * from final
