{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key='id',
        bucket_column='activity_date',
        post_hook=[
            "{{ drop_swapped_out_backup() }}",
            "{{ ensure_table_ddl(constraints={'int_user_activity_days_pkey': 'primary key (id)'}) }}",
            "{{ ensure_index('int_user_activity_days_date_idx', '(activity_date, workspace_id)') }}",
            "{{ ensure_index('int_user_activity_days_user_idx', '(user_id, activity_date)') }}",
            "{{ record_runs_watermark(ref('stg_app__agent_runs')) }}",
        ],
    )
}}

{#- One row per user, UTC day and workspace (NULL: events with no workspace) with any activity. #}
{%- set days = rebuilt_days(ref('stg_app__agent_runs')) %}

with events as (
    select * from {{ ref('stg_analytics__user_activity') }}
    where {{ in_days('created_at', days) }}
),

runs as (
    select * from {{ ref('stg_app__agent_runs') }}
    where {{ in_days('started_at', days) }}
),

event_days as (
    select
        {{ utc_date('created_at') }} as activity_date,
        workspace_id,
        user_id,
        count(*) as events,
        0 as runs,
        0::numeric as credits
    from events
    group by 1, 2, 3
),

run_days as (
    select
        {{ utc_date('started_at') }} as activity_date,
        workspace_id,
        user_id,
        0 as events,
        count(*) as runs,
        sum(credits_consumed) as credits
    from runs
    group by 1, 2, 3
),

final as (
    select
        {{ row_id(['activity_date', 'workspace_id', 'user_id']) }} as id,
        activity_date,
        workspace_id,
        user_id,
        sum(events)::integer as event_count,
        sum(runs)::integer as run_count,
        sum(credits)::numeric(15, 4) as run_credits
    from (
        select * from event_days
        union all
        select * from run_days
    ) as activity
    group by 2, 3, 4
)

select * from final
