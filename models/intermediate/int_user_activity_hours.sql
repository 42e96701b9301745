{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since='activity_hour',
        unique_key='id',
        pre_hook=["{{ widen_columns({'run_credits': credit_grain_type()}) }}"],
        post_hook=[
            "{{ ensure_table_ddl(constraints={'int_user_activity_hours_pkey': 'primary key (id)'}) }}",
            "{{ ensure_index('int_user_activity_hours_user_idx', '(user_id, activity_hour)') }}",
            "{{ ensure_index('int_user_activity_hours_hour_idx', '(activity_hour)') }}",
            "{{ delete_emptied_rows('event_count = 0 and run_count = 0') }}",
        ],
    )
}}

{#-
    One row per UTC hour, workspace (NULL: events outside any workspace) and user with any
    activity. A build recomputes the user-hours that the events and runs it takes in touch,
    from all of their events and runs, so a late event or a run that finishes later lands in
    its own hour.
-#}
{%- set since = earliest_taken_in(ref('stg_analytics__user_activity'), ref('stg_app__agent_runs')) %}

with
{% if is_incremental() %}
    touched as (
        {{ arrivals('hour', 'activity_hour') }}
    ),
{% endif %}

events as (
    select events.*
    from {{ ref('stg_analytics__user_activity') }} as events
    {% if is_incremental() %}
        inner join touched
            on
                events.user_id = touched.user_id
                and events.created_at >= touched.activity_hour
                and events.created_at < touched.activity_hour + interval '1 hour'
                and events.workspace_id is not distinct from touched.workspace_id
        {#- from the start of the earliest touched hour: its earlier events count too #}
        where events.created_at >= {{ utc_hour(since) }}
    {% endif %}
),

runs as (
    select runs.*
    from {{ ref('stg_app__agent_runs') }} as runs
    {% if is_incremental() %}
        inner join touched
            on
                runs.workspace_id = touched.workspace_id
                and runs.started_at >= touched.activity_hour
                and runs.started_at < touched.activity_hour + interval '1 hour'
                and runs.user_id = touched.user_id
        where runs.started_at >= {{ utc_hour(since) }}
    {% endif %}
),

event_hours as (
    select
        {{ utc_hour('created_at') }} as activity_hour,
        workspace_id,
        user_id,
        count(*) as events,
        0 as runs,
        0::numeric as credits
    from events
    group by 1, 2, 3
),

run_hours as (
    select
        {{ utc_hour('started_at') }} as activity_hour,
        workspace_id,
        user_id,
        0 as events,
        count(*) as runs,
        sum(credits_consumed) as credits
    from runs
    group by 1, 2, 3
),

{#- A touched user-hour left with no event and no run (what it held was deleted) is written
    with zero counts, and the post-hook removes it. #}
{% if is_incremental() %}
    emptied_hours as (
        select
            touched.activity_hour,
            touched.workspace_id,
            touched.user_id,
            0 as events,
            0 as runs,
            0::numeric as credits
        from touched
    ),
{% endif %}

final as (
    select
        {# the epoch, not the text of the hour, which depends on TimeZone #}
        {{ row_id(['extract(epoch from activity_hour)', 'workspace_id', 'user_id']) | indent(8) }} as id,
        activity_hour,
        workspace_id,
        user_id,
        sum(events)::integer as event_count,
        sum(runs)::integer as run_count,
        sum(credits)::{{ credit_grain_type() }} as run_credits
    from (
        select * from event_hours
        union all
        select * from run_hours
        {% if is_incremental() %}
            union all
            select * from emptied_hours
        {% endif %}
    ) as activity
    group by 2, 3, 4
)

select * from final
{{ time_ordered_on_full_build('activity_hour') }}
