{{
    incremental_grain(
        takes_in=['events'],
        tested_since='session_start_at',
        unique_key='session_id',
        post_hook=[
            "{{ ensure_table_ddl(constraints={'int_sessions_pkey': 'primary key (session_id)'}) }}",
            "{{ ensure_index('int_sessions_start_idx', '(session_start_at)') }}",
            "{{ delete_emptied_rows('event_count = 0') }}",
        ],
    )
}}

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
            touched.session_id,
            min(touched.earliest_event_at) as earliest_event_at
        from (
            select
                events.session_id,
                events.created_at as earliest_event_at
            from {{ ref('stg_analytics__user_activity') }} as events
            where
                events.session_id is not null
                and {{ taken_in('events', 'events') }}
            union all
            {#- sessions that lost events: recomputed from those left #}
            select
                gone.session_id,
                gone.happened_at
            from ({{ deletions_taken_in('event') }}) as gone
            where gone.session_id is not null
        ) as touched
        group by touched.session_id
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

{# A session is the user's of its first event, and counts that user's events only: another
    user who sends events under its id (a member who read it in their workspace's events, once
    the session is too old for track_event's check of its owner) adds nothing to it. #}
per_user as (
    select
        session_id,
        user_id,
        min(created_at) as first_event_at,
        (array_agg(event_id order by created_at, event_id))[1] as first_event_id,
        (
            array_agg(workspace_id order by created_at, event_id)
            filter (where workspace_id is not null)
        )[1
        ] as workspace_id,
        max(created_at) as last_event_at,
        count(*)::integer as event_count,
        (count(*) filter (where event_type = 'page_view'))::integer as page_view_count,
        count(*) = 1 and bool_and(event_type = 'page_view') as is_bounce
    from session_events
    group by session_id, user_id
),

sessions as (
    select distinct on (per_user.session_id)
        per_user.session_id,
        per_user.user_id,
        per_user.workspace_id,
        per_user.first_event_at as session_start_at,
        per_user.last_event_at as session_end_at,
        per_user.event_count,
        per_user.page_view_count,
        per_user.is_bounce
    from per_user
    order by per_user.session_id, per_user.first_event_at, per_user.first_event_id
),

final as (
    select * from sessions
    {% if is_incremental() %}
        {#- a touched session left with no event: written empty, removed by the post-hook #}
        union all
        select
            known.session_id,
            known.user_id,
            known.workspace_id,
            known.session_start_at,
            known.session_end_at,
            0 as event_count,
            0 as page_view_count,
            false as is_bounce
        from {{ this }} as known
        where
            known.session_id in (
                select touched_sessions.session_id from touched_sessions
            )
            and not exists (
                select from sessions
                where sessions.session_id = known.session_id
            )
    {% endif %}
)

select * from final
{{ time_ordered_on_full_build('session_start_at') }}
