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
{#- What the project says of the tested relation: an append-only relation's arrival stamp
    (meta arrival_column, on the sources and staging views the app writes through), or an
    incremental grain's time column (incremental_grain's tested_since). -#}
{%- set described = {'arrival_column': none, 'tested_since': none} -%}
{#- A model is found by its key; looking through every node instead (the data tests are most of
    them) cost each build tens of thousands of steps of Jinja. A relation that is no model of
    that name (an aliased model, a source) is looked for among all the models. -#}
{%- if execute -%}
    {%- set model = graph.nodes.get('model.' ~ project_name ~ '.' ~ relation.identifier) -%}
    {%- set models = [model] if model and model.alias == relation.identifier
        else graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') | list -%}
    {%- for node in models + (graph.sources.values() | list) -%}
        {%- set name = node.identifier if node.resource_type == 'source' else node.alias -%}
        {%- if node.resource_type in ('model', 'source') and name == relation.identifier
            and node.schema == relation.schema -%}
            {%- set meta = node.config.get('meta', {}) -%}
            {%- do described.update({
                'arrival_column': meta.get('arrival_column'),
                'tested_since': meta.get('incremental_grain', {}).get('tested_since'),
            }) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{%- set arrived = "now() - interval '" ~ checked_var('test_recent_window') ~ "'" -%}
{#- Each test runs on a connection of its own, without the models' pre-hook: the same
    settings as build_session_settings (JIT compiled the plans of tests over the partitioned
    event table for seconds). -#}
{%- if execute -%}
    {%- do run_query(
        "set jit = " ~ ('on' if var('build_jit', false) else 'off') ~ "; set work_mem = '" ~ checked_var('build_work_mem') ~ "'"
    ) -%}
{%- endif -%}
{%- if execute and scheduled and described.arrival_column -%}
    {%- set watermarks = api.Relation.create(
        database=target.database, schema=target.schema ~ '_internal', identifier='build_watermarks'
    ) -%}
    {%- set found = run_query("select min(read_start)::text from " ~ watermarks) if load_relation(watermarks) else none -%}
    {%- if found and found.rows | length and found.columns[0].values()[0] -%}
        {%- set arrived = "'" ~ found.columns[0].values()[0] ~ "'::timestamptz" -%}
    {%- endif -%}
{%- endif -%}
{%- set recent_days = "(now() at time zone 'UTC')::date - " ~ (checked_var('lookback_days') + 1) -%}
{%- set recent = none -%}
{%- if described.arrival_column -%}
    {%- set recent = described.arrival_column ~ ' >= ' ~ arrived -%}
{%- elif described.tested_since -%}
    {%- set recent = described.tested_since ~ ' >= ' ~ recent_days -%}
{%- endif -%}
{%- set filters = [] -%}
{%- if config.get('where') -%}
    {%- do filters.append('(' ~ config.get('where') ~ ')') -%}
{%- endif -%}
{%- if scheduled and recent -%}
    {%- do filters.append(recent) -%}
{%- endif -%}
{%- if filters -%}
    {%- do return('(select * from ' ~ relation ~ ' where ' ~ (filters | join(' and ')) ~ ') dbt_subquery') -%}
{%- else -%}
    {%- do return(relation) -%}
{%- endif -%}
{%- endmacro %}
