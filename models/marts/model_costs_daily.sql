{{
    config(
        materialized='replaceable_view',
        grants={'select': rollup_readers()},
        post_hook=["{{ make_security_invoker() }}"],
    )
}}

{#- model_usage_daily's credits in money, at the price stored in the database
    (credit_price_usd(), changed by set_credit_price_usd(); docs/bi.md), so that a new price
    needs no build (read once per query, in a CTE, not once per row). A view with
    security_invoker: model_usage_daily's RLS applies. -#}
with usage as (
    select * from {{ ref('model_usage_daily') }}
),

price as (
    select {{ stored_credit_price() }} as credit_price_usd
),

final as (
    select
        usage.metric_date,
        usage.workspace_id,
        usage.model,
        usage.total_runs,
        usage.total_tokens_used,
        usage.total_credits,
        (usage.total_credits * price.credit_price_usd)::numeric(20, 2) as total_cost_usd
    from usage
    cross join price
)

select * from final
