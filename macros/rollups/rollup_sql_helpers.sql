{#- SQL building blocks of the rollups: UTC days, the platform scope, stable ids and the
    days an incremental build recomputes. One file, so that macros calling each other also
    render in sqlfluff's offline templater. -#}

{% macro platform_scope_id() -%}
{#- Intermediate models key platform-wide rows by this id so joins need no NULL handling;
    marts turn it back into the spec's NULL workspace_id. -#}
'00000000-0000-0000-0000-000000000000'::uuid
{%- endmacro %}


{% macro workspace_from_scope(scope_column) -%}
nullif({{ scope_column }}, {{ platform_scope_id() }})
{%- endmacro %}


{% macro row_id(columns) -%}
{#- A stable uuid from the row's natural key, NULLs included, so rebuilds keep the same id.
    Pass timestamps as epochs: their text depends on the session TimeZone. -#}
md5(concat_ws('|', {% for column in columns %}coalesce({{ column }}::text, '∅'){{ ', ' if not loop.last }}{% endfor %}))::uuid
{%- endmacro %}


{% macro rollup_timestamps(updated=true) -%}
{#- Bookkeeping columns: set when a row is inserted; updated_at moves (by trigger) when it changes. -#}
now() as created_at{% if updated %},
        now() as updated_at{% endif %}
{%- endmacro %}


{#- Which UTC days an incremental build recomputes, and what it remembers for the next one. -#}

{% macro utc_date(column) -%}
({{ column }} at time zone 'UTC')::date
{%- endmacro %}


{% macro utc_today() -%}
(now() at time zone 'UTC')::date
{%- endmacro %}


{% macro utc_day_start(day) -%}
(({{ day }})::timestamp at time zone 'UTC')
{%- endmacro %}


{% macro days_to_rebuild(runs_relation, sessions_relation=none) %}
{#-
    A subquery of UTC days: on a first build or full refresh, every day; with
    --vars backfill_from/backfill_to, exactly that range; otherwise the late-event lookback
    up to today, plus the start day of every run changed since this model's last build.
-#}
{%- if var('backfill_from') and var('backfill_to') -%}
    select generate_series(
        '{{ var("backfill_from") }}'::date, '{{ var("backfill_to") }}'::date, interval '1 day'
    )::date as day
{%- elif is_incremental() -%}
    {#- up to a week ahead too: clients with fast clocks, and data loaded ahead of time #}
    select generate_series(
        {{ utc_today() }} - {{ var('lookback_days') }}, {{ utc_today() }} + {{ var('partitions_ahead_days') }},
        interval '1 day'
    )::date as day
    union
    select distinct {{ utc_date('changed_runs.started_at') }} as day
    from {{ runs_relation }} as changed_runs
    where changed_runs.updated_at > coalesce(
        (
            select w.runs_updated_at from {{ internal_schema() }}.build_watermarks as w
            where w.model_name = '{{ this.identifier }}'
        ),
        '-infinity'
    ) - interval '{{ var("run_update_margin") }}'
    {%- if sessions_relation is not none %}
    union
    {#- a late event can lengthen a session that began before the window: rebuild its day too #}
    select distinct {{ utc_date('touched_sessions.session_start_at') }} as day
    from {{ sessions_relation }} as touched_sessions
    where touched_sessions.session_end_at >= {{ utc_day_start(utc_today() ~ ' - ' ~ var('lookback_days')) }}
    {%- endif %}
{%- else -%}
    select null::date as day where false
{%- endif -%}
{% endmacro %}


{% macro rebuilt_days(runs_relation, sessions_relation=none) -%}
{#-
    The UTC days this build recomputes, rendered as ISO dates joined by commas and read when
    the model runs; empty when every day is rebuilt. Literal dates let the planner prune
    partitions and use the time indexes at plan time: as a subquery they cost seconds per
    model at scale.
-#}
{%- if is_incremental() or (var('backfill_from') and var('backfill_to')) -%}
    {%- if (runs_relation | string).startswith('__dbt__cte__') -%}
        {#- a dbt unit test: its inputs are CTEs of the query, so the days stay a subquery #}
        {{- days_to_rebuild(runs_relation, sessions_relation) -}}
    {%- elif execute -%}
        {%- set found = run_query('select day::text from (' ~ days_to_rebuild(runs_relation, sessions_relation) ~ ') as d order by 1') -%}
        {{- found.columns[0].values() | join(',') -}}
    {%- else -%}
        1970-01-01
    {%- endif -%}
{%- endif -%}
{%- endmacro %}


{% macro in_days(column, days, is_date=false) -%}
{#-
    True for rows whose UTC day is one of `days`: dates joined by commas, or a subquery of
    days (unit tests, aggregate_daily_metrics); every row when days is empty.
-#}
{%- set days = days | trim -%}
{%- if not days -%}
    true
{%- elif 'select' not in days -%}
    {%- set listed = "'{" ~ days ~ "}'::date[]" -%}
    {%- if is_date -%}
        {{ column }} = any ({{ listed }})
    {%- else -%}
        {{ column }} >= {{ utc_day_start("'" ~ (days.split(',') | min) ~ "'::date") }}
        and {{ utc_date(column) }} = any ({{ listed }})
    {%- endif -%}
{%- elif is_date -%}
    {{ column }} in ({{ days }})
{%- else -%}
    {#- the range lets the planner prune partitions and use the time indexes -#}
    {{ column }} >= (select {{ utc_day_start('min(d.day)') }} from ({{ days }}) as d)
    and {{ utc_date(column) }} in ({{ days }})
{%- endif -%}
{%- endmacro %}


{% macro record_runs_watermark(runs_relation) %}
{#- A backfill rebuilds chosen days only; runs changed elsewhere still wait for the next build. -#}
{%- if var('backfill_from') and var('backfill_to') %}
select 'backfill: watermark of {{ this.identifier }} left as it was'
{%- else %}
insert into {{ internal_schema() }}.build_watermarks (model_name, runs_updated_at, built_at)
select '{{ this.identifier }}', max(updated_at), now() from {{ runs_relation }}
on conflict (model_name) do update
set runs_updated_at = excluded.runs_updated_at, built_at = excluded.built_at
{%- endif %}
{% endmacro %}
