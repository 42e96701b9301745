{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since='metric_date',
        unique_key='id',
        grants={'select': rollup_readers()},
        bucket_column='metric_date',
        post_hook=[
            "{{ ensure_table_ddl(
                not_null=['metric_date', 'event_type', 'created_at', 'updated_at'],
                defaults={'id': 'gen_random_uuid()', 'created_at': 'now()', 'updated_at': 'now()'},
                constraints={
                    'event_usage_daily_pkey': 'primary key (id)',
                    'unique_event_usage_daily':
                        'unique nulls not distinct (metric_date, workspace_id, event_type, event_name)',
                    'event_usage_daily_workspace_id_fkey': cascade_to_app('workspace_id', 'workspaces'),
                },
            ) }}",
            "{{ ensure_index('idx_event_usage_daily_workspace', '(workspace_id, metric_date desc)') }}",
            "{{ ensure_updated_at_trigger() }}",
            "{{ enable_workspace_rls() }}",
            "{{ delete_emptied_rows('events = 0') }}",
        ],
    )
}}

{#- Feature usage: one row per UTC day, event type and name, per workspace and for the
    platform. Kept after the raw events' 90-day purge (cleanup_old_data() leaves it): the
    purge removes no day a build recomputes, since only days with arrivals are. -#}
{%- set days = days_taken_in(ref('stg_analytics__user_activity'), ref('stg_app__agent_runs')) %}
{%- set horizon = utc_day_start(utc_today() ~ ' - ' ~ checked_var('raw_event_retention_days')) %}

{#- Never a day before the raw events' retention (a late event or an erasure there): its
    events are gone, and a recompute would replace its counts with what is left. Read twice
    (the names past the first hundred read their events again): not materialized, or the
    first read would copy every event of the days into a tuplestore. #}
with events as not materialized (
    select * from {{ ref('stg_analytics__user_activity') }}
    where {{ in_days('created_at', days) }} and created_at >= {{ horizon }}
),

name_counts as (
    select
        {{ utc_date('created_at') }} as metric_date,
        {{ scope_of_grouping('workspace_id') | indent(8) }} as scope_id,
        event_type,
        event_name,
        count(*) as events,
        count(distinct user_id) as users
    from events
    group by
        grouping sets (
            ({{ utc_date('created_at') }}, workspace_id, event_type, event_name),
            ({{ utc_date('created_at') }}, event_type, event_name)
        )
    having {{ is_scope_grouping('workspace_id') }}
),

{# Names are whatever a caller sends: a day, scope and type keeps its first
    max_event_names_per_day() names (no name first, then by users, events and the name's
    bytes) and counts the rest in one row named other_event_names(), so a signed-in user
    cannot add keys without end. A real name equal to that label is counted among the rest. #}
name_ranks as (
    select
        name_counts.*,
        row_number() over (
            partition by name_counts.metric_date, name_counts.scope_id, name_counts.event_type
            order by
                case
                    when name_counts.event_name is null then 0
                    when name_counts.event_name = {{ other_event_names() }} then 2
                    else 1
                end,
                name_counts.users desc,
                name_counts.events desc,
                convert_to(name_counts.event_name, 'UTF8')
        ) as name_rank
    from name_counts
),

folded_names as (
    select
        name_ranks.metric_date,
        name_ranks.scope_id,
        name_ranks.event_type,
        name_ranks.event_name
    from name_ranks
    where name_ranks.name_rank > {{ max_event_names_per_day() }}
),

folded as (
    select
        folded_names.metric_date,
        folded_names.scope_id,
        folded_names.event_type,
        {{ other_event_names() }}::varchar(100) as event_name,
        count(*) as events,
        count(distinct events.user_id) as users
    from folded_names
    inner join events
        on
            folded_names.metric_date = {{ utc_date('events.created_at') }}
            and folded_names.event_type = events.event_type
            and folded_names.event_name = events.event_name
            and (
                folded_names.scope_id = {{ platform_scope_id() }}
                or folded_names.scope_id = events.workspace_id
            )
    group by folded_names.metric_date, folded_names.scope_id, folded_names.event_type
),

per_name as (
    select
        name_ranks.metric_date,
        name_ranks.scope_id,
        name_ranks.event_type,
        name_ranks.event_name,
        name_ranks.events,
        name_ranks.users
    from name_ranks
    where name_ranks.name_rank <= {{ max_event_names_per_day() }}
    union all
    select * from folded
),

{#- A recomputed day's row left with no event (its events were deleted) is written with zero
    counts, and the post-hook removes it. #}
{% if is_incremental() %}
    emptied as (
        select
            known.metric_date,
            coalesce(known.workspace_id, {{ platform_scope_id() }}) as scope_id,
            known.event_type,
            known.event_name,
            0 as events,
            0 as users
        from {{ this }} as known
        where
            {{ in_days('known.metric_date', days, is_date=true) }}
            and known.metric_date >= {{ utc_today() }} - {{ checked_var('raw_event_retention_days') }}
            and not exists (
                select from per_name
                where
                    per_name.metric_date = known.metric_date
                    and per_name.scope_id = coalesce(known.workspace_id, {{ platform_scope_id() }})
                    and per_name.event_type = known.event_type
                    and per_name.event_name is not distinct from known.event_name
            )
    ),
{% endif %}

counted as (
    select * from per_name
    {% if is_incremental() %}
        union all
        select * from emptied
    {% endif %}
),

final as (
    select
        {{ row_id(['counted.metric_date', workspace_from_scope('counted.scope_id'), 'counted.event_type',
            'counted.event_name']) | indent(8) }} as id,
        counted.metric_date,
        {{ workspace_from_scope('counted.scope_id') }} as workspace_id,
        counted.event_type,
        counted.event_name,
        counted.events::integer as events,
        counted.users::integer as users,
        {{ rollup_timestamps() | indent(8) }}
    from counted
)

select * from final
