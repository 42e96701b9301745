{#-
    The semantic layer's time spine (models/semantic/_semantic__models.yml): one row per UTC
    day from the first day of daily_metrics through today, or its last day if later (an event
    may be up to a day ahead). A view: nothing is stored, and the bounds come from the unique
    index that leads with metric_date.
-#}
with daily_metrics as (
    select * from {{ ref('daily_metrics') }}
),

bounds as (
    select
        coalesce(min(daily_metrics.metric_date), {{ utc_today() }}) as first_day,
        greatest(max(daily_metrics.metric_date), {{ utc_today() }}) as last_day
    from daily_metrics
),

final as (
    select days.day::date as date_day
    from bounds
    cross join lateral generate_series(bounds.first_day, bounds.last_day, interval '1 day') as days (day)
)

select * from final
