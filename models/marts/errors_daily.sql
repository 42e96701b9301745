{{
    config(
        materialized='replaceable_view',
        grants={'select': rollup_readers()},
        post_hook=["{{ make_security_invoker() }}"],
    )
}}

{#- daily_metrics.errors_by_type in long form: one row per UTC day, workspace (NULL: the
    platform) and error type. A view with security_invoker: daily_metrics' RLS applies. -#}
with days as (
    select * from {{ ref('daily_metrics') }}
),

final as (
    select
        days.metric_date,
        days.workspace_id,
        errors.error_type,
        errors.error_count::integer as errors
    from days
    cross join lateral jsonb_each_text(days.errors_by_type) as errors (error_type, error_count)
)

select * from final
