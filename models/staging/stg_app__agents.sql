with source as (
    select * from {{ source('app', 'agents') }}
),

renamed as (
    select
        id as agent_id,
        workspace_id,
        name as agent_name,
        created_by,
        created_at
    from source
    where {{ not_in_reserved_workspace('workspace_id') }}
)

select * from renamed
