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
        (case when runtime_seconds between 0 and {{ max_runtime_seconds() }} then runtime_seconds end)::numeric(12, 3)
            as runtime_seconds,
        credits_consumed,
        model,
        tokens_used,
        {{ bounded_label('error_type') }} as error_type,
        error_message,
        user_rating,
        feedback,
        updated_at,
        status in ('completed', 'failed', 'cancelled') as is_finished
    from source
    where {{ not_erased('source.user_id') }} and {{ not_in_reserved_workspace('workspace_id') }}
)

select * from renamed
