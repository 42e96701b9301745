{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since=none,
        unique_key='id',
        post_hook=[
            "{{ ensure_table_ddl(constraints={
                'int_user_first_seen_pkey': 'primary key (id)',
                'int_user_first_seen_scope_user_key': 'unique (scope_id, user_id)',
            }) }}",
            "{{ ensure_index('int_user_first_seen_scope_idx', '(scope_id, first_seen_date)') }}",
            "{{ delete_emptied_rows('first_seen_date is null') }}",
        ],
    )
}}

{#-
    The first UTC day each user was active in each workspace, and platform-wide (scope_id
    = the platform id), from the user-day grain, which keeps every day (raw events are purged
    after 90 days). A build recomputes the users whose days it touched, from all of their days:
    a first day can move earlier (a late event) or later (its activity was deleted); a user
    left with no day is written with no date and removed by the post-hook. Readers look a user
    up by (scope_id, user_id), the unique key: the live day looks up each of its users, and
    through the (scope_id, first_seen_date) index alone that read every user of the scope for
    each of them.
-#}
{% if is_incremental() %}
    with arrivals as (
        {{ arrivals('day', 'activity_date') }}
    ),

    touched_users as (
        select distinct
            touched.scope_id,
            touched.user_id
        from ({{ in_both_scopes('arrivals', 'activity_date') }}) as touched
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
        {{ row_id(['first_seen.scope_id', 'first_seen.user_id']) | indent(8) }} as id,
        first_seen.scope_id,
        first_seen.user_id,
        first_seen.first_seen_date
    from first_seen
)

select * from final
