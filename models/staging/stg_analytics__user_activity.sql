with source as (
    select * from {{ source('analytics', 'user_activity') }}
),

renamed as (
    select
        id as event_id,
        user_id,
        workspace_id,
        event_type,
        event_name,
        page_path,
        session_id,
        ip_address,
        user_agent,
        referrer,
        coalesce(metadata, '{}'::jsonb) as metadata,
        created_at,
        ingested_at,
        {#- a malformed or implausible value yields NULL instead of failing the build #}
        case
            when
                event_type = 'api_call' and jsonb_typeof(metadata -> 'response_time_ms') = 'number'
                and (metadata ->> 'response_time_ms')::numeric between 0 and {{ max_response_time_ms() }}
                then (metadata ->> 'response_time_ms')::numeric
        end as response_time_ms,
        case
            when event_type = 'error' and jsonb_typeof(metadata -> 'error_type') = 'string'
                then coalesce({{ bounded_label("metadata ->> 'error_type'") }}, 'unknown')
            when event_type = 'error' then 'unknown'
        end as error_type
    from source
    where
        {{ plausible_event_time('created_at', 'ingested_at') | indent(8) }}
        and {{ not_erased('source.user_id') }}
        and {{ not_in_reserved_workspace('workspace_id') }}
)

select * from renamed
