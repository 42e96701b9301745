with source as (
    select * from {{ source('analytics_internal', 'deleted_activity') }}
),

renamed as (
    select
        id as deletion_id,
        source,
        happened_at,
        workspace_id,
        user_id,
        agent_id,
        session_id,
        recorded_at
    from source
)

select * from renamed
