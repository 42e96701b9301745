-- depends_on: {{ ref('stg_analytics__user_activity') }}
-- depends_on: {{ ref('stg_app__agent_runs') }}
-- depends_on: {{ ref('stg_analytics__deleted_activity') }}

{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key='id',
        post_hook=[
            "{{ drop_swapped_out_backup() }}",
            "{{ ensure_table_ddl(constraints={'int_user_first_seen_pkey': 'primary key (id)'}) }}",
            "{{ ensure_index('int_user_first_seen_scope_idx', '(scope_id, first_seen_date)') }}",
            "{{ delete_emptied_rows('first_seen_date is null') }}",
            "{{ record_watermarks() }}",
        ],
    )
}}
{{ note_read_start() }}

{#-
    The first UTC day each user was active in each workspace, and platform-wide (scope_id
    = the platform id), from the user-day grain, which keeps every day (raw events are purged
    after 90 days). A build recomputes the users whose days it touched, from all of their days:
    a first day can move earlier (a late event) or later (its activity was deleted); a user
    left with no day is written with no date and removed by the post-hook.
-#}
{%- set since = earliest_taken_in(ref('stg_analytics__user_activity'), ref('stg_app__agent_runs')) %}

{% if is_incremental() %}
    with touched_users as (
        select
            scope_id,
            user_id
        from {{ ref('int_user_scope_days') }}
        where activity_date >= {{ utc_date(since) }}
        union
        select
            workspace_id,
            user_id
        from ({{ deletions_taken_in('event', 'run') }}) as gone
        where workspace_id is not null
        union
        select
            {{ platform_scope_id() }},
            user_id
        from ({{ deletions_taken_in('event', 'run') }}) as gone
    ),

    first_seen as (
        select
            touched_users.scope_id,
            touched_users.user_id,
            (
                select min(days.activity_date) from {{ ref('int_user_scope_days') }} as days
                where days.scope_id = touched_users.scope_id and days.user_id = touched_users.user_id
            ) as first_seen_date
        from touched_users
    ),
{% else %}
    with first_seen as (
        select
            scope_id,
            user_id,
            min(activity_date) as first_seen_date
        from {{ ref('int_user_scope_days') }}
        group by scope_id, user_id
    ),
{% endif %}

final as (
    select
        {{ row_id(['first_seen.scope_id', 'first_seen.user_id']) }} as id,
        first_seen.scope_id,
        first_seen.user_id,
        first_seen.first_seen_date
    from first_seen
)

select * from final
