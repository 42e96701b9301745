with source as (
    select * from {{ source('app', 'workspace_members') }}
),

renamed as (
    select
        workspace_id,
        user_id,
        role as member_role,
        joined_at
    from source
)

select * from renamed
