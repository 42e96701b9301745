{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since='activity_date',
        unique_key='id',
        pre_hook=["{{ widen_columns({'run_credits': credit_grain_type()}) }}"],
        post_hook=[
            "{{ ensure_table_ddl(constraints={'int_user_scope_days_pkey': 'primary key (id)'}) }}",
            "{{ ensure_index('int_user_scope_days_user_idx', '(scope_id, user_id, activity_date)') }}",
            "{{ ensure_index('int_user_scope_days_date_idx', '(activity_date, scope_id)') }}",
            "{{ ensure_index('int_user_scope_days_mau_end_idx', '(mau_end_date)') }}",
            "{{ ensure_index('int_user_scope_days_week_idx', '(scope_id, activity_date) where is_first_in_week') }}",
            "{{ ensure_index('int_user_scope_days_month_idx', '(scope_id, activity_date) where is_first_in_month') }}",
            "{{ delete_emptied_rows('event_count = 0 and run_count = 0') }}",
        ],
    )
}}

{#-
    The user-day grain, per scope: each user-day with activity once for its workspace and
    once for the platform (events with no workspace count for the platform only). Each row
    also says until when it keeps the user in the weekly and monthly active counts
    (wau_end_date, mau_end_date: 7 and 30 days on, or the user's next active day if sooner,
    so a user's rows never overlap) and whether it is the user's first day in its ISO week
    and month. A build recomputes the days touched by what it takes in, and the ends and
    flags of the same users' rows from 30 days before.
-#}
{%- set since = earliest_taken_in(ref('stg_analytics__user_activity'), ref('stg_app__agent_runs')) %}

with
{% if is_incremental() %}
    arrivals as (
        {{ arrivals('day', 'activity_date') }}
    ),

    touched_days as (
        {{ in_both_scopes('arrivals', 'activity_date') }}
    ),

    touched_users as (
        select
            scope_id,
            user_id,
            min(activity_date) as first_touched
        from touched_days
        group by scope_id, user_id
    ),
{% endif %}

hours as (
    select hours.*
    from {{ ref('int_user_activity_hours') }} as hours
    {% if is_incremental() %}
        where
            hours.activity_hour >= {{ utc_day_start(utc_date(since)) }}
            and hours.user_id in (select touched_users.user_id from touched_users)
    {% endif %}
),

scoped_hours as (
    select
        workspace_id as scope_id,
        user_id,
        {{ utc_date('activity_hour') }} as activity_date,
        event_count,
        run_count,
        run_credits
    from hours
    where workspace_id is not null
    union all
    select
        {{ platform_scope_id() }} as scope_id,
        user_id,
        {{ utc_date('activity_hour') }} as activity_date,
        event_count,
        run_count,
        run_credits
    from hours
),

recomputed as (
    select
        scoped_hours.scope_id,
        scoped_hours.user_id,
        scoped_hours.activity_date,
        sum(scoped_hours.event_count) as event_count,
        sum(scoped_hours.run_count) as run_count,
        sum(scoped_hours.run_credits) as run_credits,
        null::boolean as kept_first_in_week,
        null::boolean as kept_first_in_month,
        null::date as kept_mau_end_date,
        true as is_recomputed
    from scoped_hours
    {% if is_incremental() %}
        inner join touched_days
            on
                scoped_hours.user_id = touched_days.user_id
                and scoped_hours.activity_date = touched_days.activity_date
                and scoped_hours.scope_id = touched_days.scope_id
    {% endif %}
    group by scoped_hours.scope_id, scoped_hours.user_id, scoped_hours.activity_date
),

{% if is_incremental() %}
{# The same users' other rows from 30 days before their first touched day: their ends may
    move to a touched day. Rows before that day keep their flags (a later day cannot change
    them); rows from it on get theirs again. #}
    kept as (
        select
            existing.scope_id,
            existing.user_id,
            existing.activity_date,
            existing.event_count,
            existing.run_count,
            existing.run_credits,
            case when existing.activity_date < touched_users.first_touched then existing.is_first_in_week end
                as kept_first_in_week,
            case when existing.activity_date < touched_users.first_touched then existing.is_first_in_month end
                as kept_first_in_month,
            existing.mau_end_date as kept_mau_end_date,
            false as is_recomputed
        from {{ this }} as existing
        inner join touched_users
            on existing.scope_id = touched_users.scope_id and existing.user_id = touched_users.user_id
        where
            existing.activity_date >= touched_users.first_touched - 30
            and not exists (
                select from touched_days
                where
                    touched_days.scope_id = existing.scope_id
                    and touched_days.user_id = existing.user_id
                    and touched_days.activity_date = existing.activity_date
            )
    ),
{% endif %}

user_days as (
    select * from recomputed
    {% if is_incremental() %}
        union all
        select * from kept
    {% endif %}
),

sequenced as (
    select
        user_days.*,
        lead(user_days.activity_date) over (
            partition by user_days.scope_id, user_days.user_id order by user_days.activity_date
        ) as next_active_date,
        row_number() over (
            partition by
                user_days.scope_id, user_days.user_id, date_trunc('week', user_days.activity_date::timestamp)
            order by user_days.activity_date
        ) = 1 as first_in_week,
        row_number() over (
            partition by
                user_days.scope_id, user_days.user_id, date_trunc('month', user_days.activity_date::timestamp)
            order by user_days.activity_date
        ) = 1 as first_in_month,
        coalesce(lead(user_days.is_recomputed) over (
            partition by user_days.scope_id, user_days.user_id order by user_days.activity_date
        ), false) as next_is_recomputed
    from user_days
),

final as (
    select
        {{ row_id(['sequenced.scope_id', 'sequenced.user_id', 'sequenced.activity_date']) | indent(8) }} as id,
        sequenced.scope_id,
        sequenced.user_id,
        sequenced.activity_date,
        sequenced.event_count::integer as event_count,
        sequenced.run_count::integer as run_count,
        sequenced.run_credits::{{ credit_grain_type() }} as run_credits,
        least(sequenced.activity_date + 7, sequenced.next_active_date) as wau_end_date,
        least(sequenced.activity_date + 30, sequenced.next_active_date) as mau_end_date,
        coalesce(sequenced.kept_first_in_week, sequenced.first_in_week) as is_first_in_week,
        coalesce(sequenced.kept_first_in_month, sequenced.first_in_month) as is_first_in_month
    from sequenced
    {#- A kept row can change only if its flags were recomputed or the next row is a recomputed
        day (its ends may move); the others are context for the window functions, and leaving
        them out keeps the upsert to the rows that can change. #}
    where
        sequenced.is_recomputed
        or sequenced.kept_first_in_week is null
        or sequenced.next_is_recomputed
        {#- its next day was deleted: its ends move to the day after #}
        or least(sequenced.activity_date + 30, sequenced.next_active_date) is distinct from sequenced.kept_mau_end_date
    {% if is_incremental() %}
        {#- a touched day left with no activity: written with zero counts, removed by the post-hook #}
        union all
        select
            existing.id,
            existing.scope_id,
            existing.user_id,
            existing.activity_date,
            0 as event_count,
            0 as run_count,
            0::{{ credit_grain_type() }} as run_credits,
            existing.wau_end_date,
            existing.mau_end_date,
            existing.is_first_in_week,
            existing.is_first_in_month
        from {{ this }} as existing
        inner join touched_days
            on
                existing.scope_id = touched_days.scope_id
                and existing.user_id = touched_days.user_id
                and existing.activity_date = touched_days.activity_date
        where not exists (
            select from recomputed
            where
                recomputed.scope_id = existing.scope_id
                and recomputed.user_id = existing.user_id
                and recomputed.activity_date = existing.activity_date
        )
    {% endif %}
)

select * from final
{{ time_ordered_on_full_build('activity_date') }}
