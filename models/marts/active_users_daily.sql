{{
    incremental_grain(
        takes_in=['events', 'runs'],
        tested_since='activity_date',
        unique_key='id',
        grants={'select': rollup_readers()},
        bucket_column='activity_date',
        post_hook=[
            "{{ ensure_table_ddl(
                not_null=['activity_date', 'created_at', 'updated_at'],
                defaults={'id': 'gen_random_uuid()', 'created_at': 'now()', 'updated_at': 'now()'},
                constraints={
                    'active_users_daily_pkey': 'primary key (id)',
                    'unique_active_users_daily': 'unique nulls not distinct (activity_date, workspace_id)',
                    'active_users_daily_workspace_id_fkey': cascade_to_app('workspace_id', 'workspaces'),
                },
            ) }}",
            "{{ ensure_index('idx_active_users_daily_workspace', '(workspace_id, activity_date desc)') }}",
            "{{ ensure_updated_at_trigger() }}",
            "{{ enable_workspace_rls() }}",
            "{{ delete_days_without_active_users() }}",
        ],
    )
}}

{#- DAU, WAU and MAU for every day the user-day grain keeps (mv_active_users keeps the spec's
    90): int_active_users_daily with the API's workspace_id and RLS. A build copies the days
    that int_active_users_daily recomputed in the same build: from the earliest day of what
    it takes in, and every day since this table's last, up to today. -#}
{%- set since = earliest_taken_in(ref('stg_analytics__user_activity'), ref('stg_app__agent_runs')) %}

with days as (
    select * from {{ ref('int_active_users_daily') }}
    {% if is_incremental() %}
        where
            activity_date >= least(
                {{ utc_date(since) }},
                coalesce((select max(known.activity_date) from {{ this }} as known), {{ utc_today() }}),
                {{ utc_today() }}
            )
    {% endif %}
),

final as (
    select
        {{ row_id(['days.activity_date', workspace_from_scope('days.scope_id')]) | indent(8) }} as id,
        days.activity_date,
        {{ workspace_from_scope('days.scope_id') }} as workspace_id,
        days.daily_active_users,
        days.weekly_active_users,
        days.monthly_active_users,
        {{ rollup_timestamps() | indent(8) }}
    from days
)

select * from final
