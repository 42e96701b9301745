with source as (
    select * from {{ source('app', 'agent_runs') }}
),

renamed as (
    select
        id as run_id,
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
        nullif(btrim(error_type), '') as error_type,
        error_message,
        user_rating,
        feedback,
        updated_at,
        status in ('completed', 'failed', 'cancelled') as is_finished
    from source
)

select * from renamed
