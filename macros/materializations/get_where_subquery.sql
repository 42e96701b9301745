{% macro postgres__get_where_subquery(relation) -%}
{#-
    Data tests read every row under `dbt test` and `dbt build --full-refresh`. A scheduled
    `dbt build` tests the rows it could have changed: what arrived lately in the append-only
    tables, and the recent buckets of the rollups. Without this the hourly build's tests
    scan the whole history, and their cost grows with it (docs/performance.md).
    Self-contained on purpose: dbt gives generic tests only the macros they depend on.
-#}
{#- What arrived since the earliest watermark: the rows this build takes in (the tests of
    the sources and staging views run before any model moves its watermark), as a literal
    so that the planner can estimate it and read only the newest pages; the last
    test_recent_window before the first incremental build. -#}
{%- set scheduled = invocation_args_dict.get('which') == 'build' and not flags.FULL_REFRESH
    and not var('test_every_row') -%}
{#- the arrival stamp of each append-only relation -#}
{%- set stamped = {
    'user_activity': 'ingested_at', 'stg_analytics__user_activity': 'ingested_at',
    'agent_runs': 'updated_at', 'stg_app__agent_runs': 'updated_at',
} -%}
{%- set arrived = "now() - interval '" ~ var('test_recent_window') ~ "'" -%}
{#- Each test runs on a connection of its own, without the models' pre-hook: the same
    settings as build_session_settings (JIT compiled the plans of tests over the partitioned
    event table for seconds). -#}
{%- if execute -%}
    {%- do run_query(
        "set jit = " ~ ('on' if var('build_jit', false) else 'off') ~ "; set work_mem = '" ~ var('build_work_mem', '64MB') ~ "'"
    ) -%}
{%- endif -%}
{%- if execute and scheduled and relation.identifier in stamped -%}
    {%- set watermarks = api.Relation.create(
        database=target.database, schema=target.schema ~ '_internal', identifier='build_watermarks'
    ) -%}
    {%- set found = run_query("select min(read_start)::text from " ~ watermarks) if load_relation(watermarks) else none -%}
    {%- if found and found.rows | length and found.columns[0].values()[0] -%}
        {%- set arrived = "'" ~ found.columns[0].values()[0] ~ "'::timestamptz" -%}
    {%- endif -%}
{%- endif -%}
{%- set recent_days = "(now() at time zone 'UTC')::date - " ~ (var('lookback_days') + 1) -%}
{%- set recent = {
    'int_user_activity_hours': 'activity_hour >= ' ~ recent_days,
    'int_agent_run_days': 'run_date >= ' ~ recent_days,
    'int_cohort_activity': 'period_start >= ' ~ recent_days,
    'int_user_scope_days': 'activity_date >= ' ~ recent_days,
    'int_active_users_daily': 'activity_date >= ' ~ recent_days,
    'int_sessions': 'session_start_at >= ' ~ recent_days,
    'daily_metrics': 'metric_date >= ' ~ recent_days,
    'agent_performance': 'metric_date >= ' ~ recent_days,
    'hourly_metrics': 'metric_hour >= ' ~ recent_days,
} -%}
{%- for name, column in stamped.items() -%}
    {%- do recent.update({name: column ~ ' >= ' ~ arrived}) -%}
{%- endfor -%}
{%- set filters = [] -%}
{%- if config.get('where') -%}
    {%- do filters.append('(' ~ config.get('where') ~ ')') -%}
{%- endif -%}
{%- if scheduled and relation.identifier in recent -%}
    {%- do filters.append(recent[relation.identifier]) -%}
{%- endif -%}
{%- if filters -%}
    {%- do return('(select * from ' ~ relation ~ ' where ' ~ (filters | join(' and ')) ~ ') dbt_subquery') -%}
{%- else -%}
    {%- do return(relation) -%}
{%- endif -%}
{%- endmacro %}
