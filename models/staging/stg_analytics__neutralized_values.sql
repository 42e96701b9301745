{#- Events with a value that staging neutralizes instead of failing a build on it
    (macros/staging/input_bounds.sql): one row per such event, naming the first such field. -#}
with source as (
    select * from {{ source('analytics', 'user_activity') }}
),

checked as (
    select
        id as event_id,
        created_at,
        ingested_at,
        case
            when not {{ plausible_event_time('created_at', 'ingested_at') | indent(12) }} then 'created_at'
            when
                event_type = 'api_call' and metadata ? 'response_time_ms'
                and (
                    jsonb_typeof(metadata -> 'response_time_ms') <> 'number'
                    or (metadata ->> 'response_time_ms')::numeric not between 0 and {{ max_response_time_ms() }}
                )
                then 'metadata.response_time_ms'
            when
                event_type = 'error' and metadata ? 'error_type'
                and (
                    jsonb_typeof(metadata -> 'error_type') <> 'string'
                    or {{ bounded_label("metadata ->> 'error_type'") }} = 'other'
                )
                then 'metadata.error_type'
        end as field
    from source
),

final as (
    select * from checked
    where field is not null
)

select * from final
