{{ config(materialized='replaceable_view') }}

{#- What a run is, said once for every model that counts runs: the UTC day and hour it belongs
    to, its outcome, and the type its failure counts under. A view: the marts' filters on
    started_at and updated_at reach the app's table through it. -#}
with runs as (
    select * from {{ ref('stg_app__agent_runs') }}
),

final as (
    select
        run_id,
        agent_id,
        workspace_id,
        user_id,
        status,
        started_at,
        completed_at,
        runtime_seconds,
        credits_consumed,
        model,
        tokens_used,
        error_type,
        error_message,
        user_rating,
        feedback,
        updated_at,
        {{ utc_date('started_at') }} as run_date,
        {{ utc_hour('started_at') }} as run_hour,
        status = 'completed' as is_successful,
        status = 'failed' as is_failed,
        status = 'cancelled' as is_cancelled,
        case when status = 'failed' then coalesce(error_type, 'unknown') end as failure_type,
        user_rating is not null or feedback is not null as has_feedback
    from runs
)

select * from final
