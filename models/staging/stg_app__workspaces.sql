with source as (
    select * from {{ source('app', 'workspaces') }}
),

renamed as (
    select
        id as workspace_id,
        name as workspace_name,
        plan,
        created_at
    from source
    where {{ not_in_reserved_workspace('id') }}
)

select * from renamed
