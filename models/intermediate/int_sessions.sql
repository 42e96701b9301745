-- depends_on: {{ ref('stg_analytics__user_activity') }}

{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key='session_id',
        post_hook=[
            "{{ drop_swapped_out_backup() }}",
            "{{ ensure_table_ddl(constraints={'int_sessions_pkey': 'primary key (session_id)'}) }}",
            "{{ ensure_index('int_sessions_start_idx', '(session_start_at)') }}",
            "{{ record_watermarks() }}",
        ],
    )
}}
{{ note_read_start() }}

{#-
    One row per session id. A session belongs to the workspace of its first event that has
    one, and to the UTC day of its first event. Sessions touched by the events a build takes
    in are recomputed from all of their events.
-#}
{#- Each step reads the staging view itself: a CTE read twice would be materialized, and
    that would scan every event. #}
{% if is_incremental() %}
    with touched_sessions as (
        select
            events.session_id,
            min(events.created_at) as earliest_event_at
        from {{ ref('stg_analytics__user_activity') }} as events
        where
            events.session_id is not null
            and {{ taken_in('events', 'events') }}
        group by events.session_id
    ),

    {# A touched session's events are its new ones and those this table already spans:
        read from the earlier of the two on, so older partitions stay closed. #}
    earliest_start as (
        select least(
            (select min(touched_sessions.earliest_event_at) from touched_sessions),
            (
                select min(known.session_start_at) from {{ this }} as known
                inner join touched_sessions on known.session_id = touched_sessions.session_id
            )
        ) as starts_at
    ),

    session_events as (
        select events.*
        from {{ ref('stg_analytics__user_activity') }} as events
        inner join touched_sessions on events.session_id = touched_sessions.session_id
        where events.created_at >= (select earliest_start.starts_at from earliest_start)
    ),
{% else %}
    with session_events as (
        select * from {{ ref('stg_analytics__user_activity') }}
        where session_id is not null
    ),
{% endif %}

final as (
    select
        session_id,
        (array_agg(user_id order by created_at, event_id))[1] as user_id,
        (
            array_agg(workspace_id order by created_at, event_id)
            filter (where workspace_id is not null)
        )[1
        ] as workspace_id,
        min(created_at) as session_start_at,
        max(created_at) as session_end_at,
        count(*)::integer as event_count,
        (count(*) filter (where event_type = 'page_view'))::integer as page_view_count,
        count(*) = 1 and bool_and(event_type = 'page_view') as is_bounce
    from session_events
    group by session_id
)

select * from final
{{ time_ordered_on_full_build('session_start_at') }}
