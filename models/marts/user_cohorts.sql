{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key='id',
        grants={'select': rollup_readers()},
        bucket_column='cohort_period',
        pre_hook=["{{ widen_columns({'ltv_estimate': credit_sum_type(), 'avg_revenue_per_user': credit_sum_type()}) }}"],
        post_hook=[
            "{{ drop_swapped_out_backup() }}",
            "{{ ensure_table_ddl(
                not_null=['cohort_period', 'cohort_date', 'initial_users', 'retention_data', 'created_at', 'updated_at'],
                defaults={'id': 'gen_random_uuid()', 'created_at': 'now()', 'updated_at': 'now()'},
                constraints={
                    'user_cohorts_pkey': 'primary key (id)',
                    'unique_cohort': 'unique nulls not distinct (cohort_period, cohort_date, workspace_id)',
                    'user_cohorts_workspace_id_fkey': cascade_to_app('workspace_id', 'workspaces'),
                    'user_cohorts_cohort_period_check': \"check (cohort_period in ('daily', 'weekly', 'monthly'))\",
                    'user_cohorts_churn_rate_check': 'check (churn_rate between 0 and 100)',
                },
            ) }}",
            "{{ ensure_index('idx_user_cohorts_date', '(cohort_date desc)') }}",
            "{{ ensure_index('idx_user_cohorts_workspace', '(workspace_id, cohort_date desc)') }}",
            "{{ ensure_updated_at_trigger() }}",
            "{{ enable_workspace_rls() }}",
        ],
    )
}}

{#-
    Daily, weekly (ISO, from Monday) and monthly cohorts of users by first-seen day, per
    workspace and platform-wide. Every figure moves with "today" (the last complete UTC day),
    so every cohort is recomputed, from int_cohort_activity (a weekly or monthly cohort is
    the union of its daily cohorts, so their counts add up); only rows whose figures changed
    are written.
-#}
with report_day as (
    {#- today: the last complete UTC day, or the var report_date for a report as of that day #}
    select
        {% if checked_var('report_date') %}'{{ checked_var("report_date") }}'::date
        {%- else %}{{ utc_today() }} - 1{% endif %}
            as today
),

credit_price as (
    select {{ stored_credit_price() }} as credit_price_usd
),

first_seen as (
    select first_seen.*
    from {{ ref('int_user_first_seen') }} as first_seen
    cross join report_day
    where first_seen.first_seen_date <= report_day.today
),

activity as (
    select activity.*
    from {{ ref('int_cohort_activity') }} as activity
    cross join report_day
    where activity.cohort_day <= report_day.today and activity.period_start <= report_day.today
),

{# the rows that keep a user in the monthly active count on the report day: one per user
    active in the 30 days up to it #}
active_on_report_day as (
    select days.*
    from {{ ref('int_user_scope_days') }} as days
    cross join report_day
    where days.mau_end_date > report_day.today and days.activity_date <= report_day.today
),

periods as (
    select
        period.cohort_period,
        period.activity_period
    from (values ('daily', 'day'), ('weekly', 'week'), ('monthly', 'month')) as period (cohort_period, activity_period)
),

cohorts as (
    select
        periods.cohort_period,
        first_seen.scope_id,
        {{ cohort_start('periods.cohort_period', 'first_seen.first_seen_date') }} as cohort_date,
        count(*) as initial_users
    from first_seen
    cross join periods
    group by 1, 2, 3
),

{# (period, key, offset): the Nth period after the cohort's own #}
retention_keys as (
    select
        keys.cohort_period,
        keys.retention_key,
        keys.period_offset
    from (
        values
        ('daily', 'day_1', 1), ('daily', 'day_7', 7), ('daily', 'day_14', 14), ('daily', 'day_30', 30),
        ('weekly', 'week_1', 1), ('weekly', 'week_2', 2), ('weekly', 'week_3', 3), ('weekly', 'week_4', 4),
        ('weekly', 'week_5', 5), ('weekly', 'week_6', 6), ('weekly', 'week_7', 7), ('weekly', 'week_8', 8),
        ('weekly', 'week_9', 9), ('weekly', 'week_10', 10), ('weekly', 'week_11', 11),
        ('weekly', 'week_12', 12),
        ('monthly', 'month_1', 1), ('monthly', 'month_2', 2), ('monthly', 'month_3', 3),
        ('monthly', 'month_4', 4), ('monthly', 'month_5', 5), ('monthly', 'month_6', 6)
    ) as keys (cohort_period, retention_key, period_offset)
),

returning_members as (
    select
        periods.cohort_period,
        activity.scope_id,
        {{ cohort_start('periods.cohort_period', 'activity.cohort_day') }} as cohort_date,
        activity.period_start,
        sum(activity.active_users) as returned
    from activity
    inner join periods on activity.period = periods.activity_period
    {#- of the day rows only the retention keys' offsets are read: nine in ten are not one #}
    where
        activity.period <> 'day'
        or activity.period_start - activity.cohort_day in (
            select retention_keys.period_offset from retention_keys
            where retention_keys.cohort_period = 'daily'
        )
    group by 1, 2, 3, 4
),

{# each daily cohort's credits first, then rolled up to weeks and months: the day rows
    are read once, not once per period, and from the table (a second reader of the activity
    CTE would materialize all of it) #}
daily_revenue as (
    select
        day_activity.scope_id,
        day_activity.cohort_day,
        sum(day_activity.run_credits) as credits
    from {{ ref('int_cohort_activity') }} as day_activity
    cross join report_day
    where
        day_activity.period = 'day'
        and day_activity.cohort_day <= report_day.today
        and day_activity.period_start <= report_day.today
    group by 1, 2
),

revenue as (
    select
        periods.cohort_period,
        daily_revenue.scope_id,
        {{ cohort_start('periods.cohort_period', 'daily_revenue.cohort_day') }} as cohort_date,
        sum(daily_revenue.credits) as credits
    from daily_revenue
    cross join periods
    group by 1, 2, 3
),

still_active as (
    select
        periods.cohort_period,
        first_seen.scope_id,
        {{ cohort_start('periods.cohort_period', 'first_seen.first_seen_date') }} as cohort_date,
        count(*) as active_last_30_days
    from active_on_report_day
    inner join first_seen
        on active_on_report_day.scope_id = first_seen.scope_id and active_on_report_day.user_id = first_seen.user_id
    cross join periods
    group by 1, 2, 3
),

{# every retention key of every cohort whose period is complete, with the cohort's size #}
complete_keys as (
    select
        cohorts.cohort_period,
        cohorts.scope_id,
        cohorts.cohort_date,
        cohorts.initial_users,
        retention_keys.retention_key,
        retention_keys.period_offset,
        case cohorts.cohort_period
            when 'daily' then cohorts.cohort_date + retention_keys.period_offset
            when 'weekly' then cohorts.cohort_date + 7 * retention_keys.period_offset
            else (cohorts.cohort_date + make_interval(months => retention_keys.period_offset))::date
        end as period_start
    from cohorts
    inner join retention_keys on cohorts.cohort_period = retention_keys.cohort_period
    cross join report_day
    where case cohorts.cohort_period
        when 'daily' then cohorts.cohort_date + retention_keys.period_offset
        when 'weekly' then cohorts.cohort_date + 7 * retention_keys.period_offset + 6
        else (cohorts.cohort_date + make_interval(months => retention_keys.period_offset + 1))::date - 1
    end <= report_day.today
),

retention as (
    select
        complete_keys.cohort_period,
        complete_keys.scope_id,
        complete_keys.cohort_date,
        jsonb_object_agg(
            complete_keys.retention_key,
            round(100.0 * coalesce(returning_members.returned, 0) / complete_keys.initial_users, 2)
            order by complete_keys.period_offset
        ) as retention_data
    from complete_keys
    left join returning_members
        on
            complete_keys.cohort_period = returning_members.cohort_period
            and complete_keys.scope_id = returning_members.scope_id
            and complete_keys.cohort_date = returning_members.cohort_date
            and complete_keys.period_start = returning_members.period_start
    group by 1, 2, 3
),

measured as (
    select
        cohorts.*,
        coalesce(retention.retention_data, '{}'::jsonb) as retention_data,
        report_day.today - cohorts.cohort_date as age_days,
        coalesce(revenue.credits, 0) * credit_price.credit_price_usd / cohorts.initial_users
            as avg_revenue_per_user,
        case
            when report_day.today - cohorts.cohort_date >= 30
                then
                    100.0 * (cohorts.initial_users - coalesce(still_active.active_last_30_days, 0))
                    / cohorts.initial_users
        end as churn_rate
    from cohorts
    cross join report_day
    cross join credit_price
    left join retention using (cohort_period, scope_id, cohort_date)
    left join revenue using (cohort_period, scope_id, cohort_date)
    left join still_active using (cohort_period, scope_id, cohort_date)
),

final as (
    select
        {{ row_id(['cohort_period', 'cohort_date', workspace_from_scope('scope_id')]) | indent(8) }} as id,
        cohort_period::varchar(20) as cohort_period,
        cohort_date,
        {{ workspace_from_scope('scope_id') }} as workspace_id,
        initial_users::integer as initial_users,
        retention_data,
        (
            avg_revenue_per_user / greatest(1, age_days / 30.0)
            * case when coalesce(churn_rate, 0) = 0 then 36 else least(36, 100 / churn_rate) end
        )::{{ credit_sum_type() }} as ltv_estimate,
        avg_revenue_per_user::{{ credit_sum_type() }} as avg_revenue_per_user,
        churn_rate::numeric(5, 2) as churn_rate,
        {{ rollup_timestamps() | indent(8) }}
    from measured
)

select * from final
