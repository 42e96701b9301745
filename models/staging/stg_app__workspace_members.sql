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
    where {{ not_erased('source.user_id') }} and {{ not_in_reserved_workspace('workspace_id') }}
)

select * from renamed
