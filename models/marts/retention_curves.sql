{{
    config(
        materialized='replaceable_view',
        grants={'select': rollup_readers()},
        post_hook=["{{ make_security_invoker() }}"],
    )
}}

{#- user_cohorts.retention_data in long form: one row per cohort and period after it (the
    offset), with the cohort's size and the percent active in that period. A view with
    security_invoker: user_cohorts' RLS applies. -#}
with cohorts as (
    select * from {{ ref('user_cohorts') }}
),

final as (
    select
        cohorts.cohort_period,
        cohorts.cohort_date,
        cohorts.workspace_id,
        case when cohorts.workspace_id is null then 'platform' else 'workspace' end as scope,
        split_part(retention.period_key, '_', 2)::integer as period_offset,
        cohorts.initial_users as cohort_users,
        retention.retained_percent::numeric(5, 2) as retention_percent
    from cohorts
    cross join lateral jsonb_each_text(cohorts.retention_data) as retention (period_key, retained_percent)
)

select * from final
