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
{#- A post-hook of hourly_metrics: an hour whose every event and run was deleted is left out of
    what the model selects, so its rows go here. Only the hours of deletions are looked at. -#}
{%- if is_incremental() and not is_backfill() and var('erasure_recounts') -%}
delete from {{ this }} as kept
where
    kept.metric_hour in (
        select {{ utc_hour('gone.happened_at') }} as metric_hour
        from {{ source('analytics_internal', 'deleted_activity') }} as gone
        group by 1
    )
    and not exists (
        select from {{ ref('int_user_activity_hours') }} as hours
        where hours.activity_hour = kept.metric_hour
    )
{%- else -%}
select 'full build: nothing emptied in {{ this.identifier }}'
{%- endif -%}
{%- endmacro %}


{% macro delete_days_without_activity() -%}
{#- A post-hook of daily_metrics: a day whose every active user and session was deleted has no
    row left to recompute it from, and upsert_changed only replaces the days the recompute
    returns rows for, so its rows (the platform's among them) go here. Only the days of
    deletions are looked at. -#}
{%- if is_incremental() and not is_backfill() and var('erasure_recounts') -%}
delete from {{ this }} as kept
where
    kept.metric_date in (
        select {{ utc_date('gone.happened_at') }} as metric_date
        from {{ source('analytics_internal', 'deleted_activity') }} as gone
        group by 1
    )
    and not exists (
        select from {{ ref('int_user_scope_days') }} as days
        where days.activity_date = kept.metric_date
    )
    and not exists (
        select from {{ ref('int_sessions') }} as sessions
        where
            sessions.session_start_at >= {{ utc_day_start('kept.metric_date') }}
            and sessions.session_start_at < {{ utc_day_start('kept.metric_date + 1') }}
    )
{%- else -%}
select 'full build: nothing emptied in {{ this.identifier }}'
{%- endif -%}
{%- endmacro %}
