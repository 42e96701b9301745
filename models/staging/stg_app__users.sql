with source as (
    select * from {{ source('app', 'users') }}
),

renamed as (
    select
        id as user_id,
        email,
        full_name,
        created_at,
        last_sign_in_at
    from source
    where {{ not_erased('source.id') }}
)

select * from renamed
