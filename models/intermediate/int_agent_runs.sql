{{ config(materialized='replaceable_view') }}

{#- What a run is, said once for every model that counts runs: the UTC day and hour it belongs
    to, its outcome, and the type its failure counts under. A view: the marts' filters on
    started_at and updated_at reach the app's table through it. -#}
with runs as (
    select * from {{ ref('stg_app__agent_runs') }}
),

final as (
    select
        runs.*,
        {{ utc_date('runs.started_at') }} as run_date,
        {{ utc_hour('runs.started_at') }} as run_hour,
        runs.status = 'completed' as is_successful,
        runs.status = 'failed' as is_failed,
        runs.status = 'cancelled' as is_cancelled,
        case when runs.status = 'failed' then coalesce(runs.error_type, 'unknown') end as failure_type,
        runs.user_rating is not null or runs.feedback is not null as has_feedback
    from runs
)

select * from final
