{{ config(materialized='view') }}

{#- For operators (service_role): how many events of each arrival day had a value neutralized,
    by field. Nothing a caller stores can stop a build; this is where it shows. -#}
with neutralized as (
    select * from {{ ref('stg_analytics__neutralized_values') }}
),

final as (
    select
        {{ utc_date('ingested_at') }} as arrival_date,
        field,
        count(*)::integer as events
    from neutralized
    group by 1, 2
)

select * from final
