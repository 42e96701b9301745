{% macro delete_emptied_rows(condition) -%}
{#- A post-hook of the grains that recompute what deletions touched (deletions_taken_in): a key
    left with nothing to count is written with zero counts by the model, and removed here,
    before anything downstream reads it. -#}
{%- if is_incremental() -%}
delete from {{ this }}
where {{ condition }}
{%- else -%}
select 'full build: nothing emptied in {{ this.identifier }}'
{%- endif -%}
{%- endmacro %}


{% macro delete_days_without_runs(date_column, per_agent=true) -%}
{#- A post-hook of the models of runs per day: a day (per_agent: an agent-day) whose every run
    was deleted has no run left to recompute it from, and upsert_changed only replaces the days
    the recompute returns rows for, so its rows go here. Only the days of deleted runs are
    looked at. -#}
{%- if is_incremental() and not is_backfill() and var('erasure_recounts') -%}
delete from {{ this }} as kept
using (
    select distinct
        {%- if per_agent %}
        gone.agent_id,
        {%- endif %}
        {{ utc_date('gone.happened_at') }} as run_date
    from {{ source('analytics_internal', 'deleted_activity') }} as gone
    where gone.source = 'run'
) as emptied
where
    {% if per_agent %}kept.agent_id = emptied.agent_id and {% endif %}kept.{{ date_column }} = emptied.run_date
    and not exists (
        select from {{ source('app', 'agent_runs') }} as runs
        where
            {% if per_agent %}runs.agent_id = kept.agent_id and {% endif %}runs.started_at >= {{ utc_day_start('kept.' ~ date_column) }}
            and runs.started_at < {{ utc_day_start('kept.' ~ date_column ~ ' + 1') }}
            and {{ not_erased('runs.user_id') }}
    )
{%- else -%}
select 'full build: nothing emptied in {{ this.identifier }}'
{%- endif -%}
{%- endmacro %}


{% macro delete_hours_without_activity() -%}
{#- A post-hook of hourly_metrics: an hour whose every event and run was deleted. -#}
{{ delete_emptied_buckets('metric_hour', utc_hour('gone.happened_at'), [
    'select from ' ~ ref('int_user_activity_hours') ~ ' as hours
        where hours.activity_hour = touched.metric_hour',
]) }}
{%- endmacro %}


{% macro delete_days_without_activity() -%}
{#- A post-hook of daily_metrics: a day whose every active user and session was deleted (its
    rows are the platform's among them). -#}
{{ delete_emptied_buckets('metric_date', utc_date('gone.happened_at'), [
    'select from ' ~ ref('int_user_scope_days') ~ ' as days
        where days.activity_date = touched.metric_date',
    'select from ' ~ ref('int_sessions') ~ ' as sessions
        where
            sessions.session_start_at >= ' ~ utc_day_start('touched.metric_date') ~ '
            and sessions.session_start_at < ' ~ utc_day_start('touched.metric_date + 1'),
]) }}
{%- endmacro %}


{% macro delete_days_nobody_counts() -%}
{#- A post-hook of int_active_users_daily: a day counts everyone active in the 30 days up to it
    (int_user_scope_days' mau_end_date), so a deletion can empty any of the 30 days from its own
    day on, and a day left with nobody on the whole platform is one the recompute returns no
    row for (a workspace's emptied day goes with upsert_changed's bucket while the platform
    still has someone on it). A day is kept by any user-day of the 30 up to it: each user's
    latest such day counts them. -#}
{{ delete_emptied_buckets('activity_date', utc_date('gone.happened_at'), [
    'select from ' ~ ref('int_user_scope_days') ~ ' as days
        where days.activity_date between touched.activity_date - 29 and touched.activity_date',
], days_after=29) }}
{%- endmacro %}


{% macro delete_days_without_active_users() -%}
{#- A post-hook of active_users_daily: the days delete_days_nobody_counts took out of
    int_active_users_daily, which this table copies. -#}
{{ delete_emptied_buckets('activity_date', utc_date('gone.happened_at'), [
    'select from ' ~ ref('int_active_users_daily') ~ ' as days
        where days.activity_date = touched.activity_date',
], days_after=29) }}
{%- endmacro %}


{% macro delete_emptied_buckets(bucket_column, bucket_of_deletion, what_keeps_it, days_after=0) -%}
{#- A post-hook of a grain with bucket_column: upsert_changed only deletes in the buckets the
    recompute returns rows for, so a bucket whose every input was deleted keeps its rows; they
    go here, when none of `what_keeps_it` (subqueries over the grains the model is computed
    from, with the bucket as `touched`) finds anything. Only the buckets of deletions
    (`bucket_of_deletion`, over deleted_activity as `gone`), and the `days_after` days after
    each (a date bucket), are looked at, each once rather than once per row; the rows to go
    are then found through the target's index on the bucket (as in upsert_changed). -#}
{%- if is_incremental() and not is_backfill() and var('erasure_recounts') -%}
delete from {{ this }} as kept
where
    kept.{{ bucket_column }} = any(array(
        select touched.{{ bucket_column }}
        from (
            select deletions.deleted_in{% if days_after %} + later.days{% endif %} as {{ bucket_column }}
            from (
                select {{ bucket_of_deletion }} as deleted_in
                from {{ source('analytics_internal', 'deleted_activity') }} as gone
                group by 1
            ) as deletions
            {%- if days_after %}
            cross join generate_series(0, {{ days_after }}) as later (days)
            {%- endif %}
            group by 1
        ) as touched
        where
            {%- for check in what_keeps_it %}
            {{ 'and ' if not loop.first }}not exists (
                {{ check | indent(8) }}
            )
            {%- endfor %}
    ))
{%- else -%}
select 'full build: nothing emptied in {{ this.identifier }}'
{%- endif -%}
{%- endmacro %}
