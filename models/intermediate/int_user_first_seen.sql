-- depends_on: {{ ref('stg_analytics__user_activity') }}
-- depends_on: {{ ref('stg_app__agent_runs') }}

{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key='id',
        post_hook=[
            "{{ drop_swapped_out_backup() }}",
            "{{ ensure_table_ddl(constraints={'int_user_first_seen_pkey': 'primary key (id)'}) }}",
            "{{ ensure_index('int_user_first_seen_scope_idx', '(scope_id, first_seen_date)') }}",
            "{{ record_watermarks() }}",
        ],
    )
}}
{{ note_read_start() }}

{#-
    The first UTC day each user was active in each workspace, and platform-wide (scope_id
    = the platform id). Kept here, and only ever moved earlier, because raw events are
    purged after 90 days.
-#}
{%- set since = earliest_taken_in(ref('stg_analytics__user_activity'), ref('stg_app__agent_runs')) %}

with scoped as (
    select * from {{ ref('int_user_scope_days') }}
    {% if is_incremental() %}
        where activity_date >= {{ utc_date(since) }}
    {% endif %}
),

first_seen as (
    select
        scope_id,
        user_id,
        min(activity_date) as first_seen_date
    from scoped
    group by scope_id, user_id
),

final as (
    select
        {{ row_id(['first_seen.scope_id', 'first_seen.user_id']) }} as id,
        first_seen.scope_id,
        first_seen.user_id,
        {% if is_incremental() %}
            least(first_seen.first_seen_date, existing.first_seen_date) as first_seen_date
        {% else %}
            first_seen.first_seen_date
        {% endif %}
    from first_seen
    {% if is_incremental() %}
        left join {{ this }} as existing
            on first_seen.scope_id = existing.scope_id and first_seen.user_id = existing.user_id
    {% endif %}
)

select * from final
