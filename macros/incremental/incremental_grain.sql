{% macro incremental_grain(takes_in, tested_since, unique_key, bucket_column=none, pre_hook=[], post_hook=[],
    grants=none) -%}
{#-
    The configuration and first step of every model that takes in what arrived since its last
    build (docs/incremental.md). Renders nothing; a model opens with it in place of config():
    - takes_in: what the model's recompute starts from, 'events' and/or 'runs' (arrivals);
      their deletions always count.
    - tested_since: the model's time column; a scheduled build tests only the rows from the
      last few days on (get_where_subquery). none: every row is tested.
    - unique_key, bucket_column: upsert_changed's (macros/incremental/upsert_changed.sql).
    - pre_hook, post_hook, grants: the model's own; the protocol's hooks come around them.
    The protocol: the build's session settings and read start are noted before the model reads
    anything (note_read_start), and a build whose cut was not recorded stops at the model's
    first pre-hook (assert_build_cut_recorded); the table a full refresh swapped out is dropped first, and the
    watermark is recorded last, once everything the model wrote is in place.
-#}
{#- What arrived is read by queries that run while the model compiles, and by incremental
    branches that parsing never renders: the refs made here give dbt the dependencies. -#}
{%- set arrival_models = {'events': 'stg_analytics__user_activity', 'runs': 'stg_app__agent_runs'} -%}
{%- for kind in takes_in -%}
    {%- if kind not in arrival_models -%}
        {{ exceptions.raise_compiler_error("incremental_grain: takes_in lists 'events' and 'runs', not " ~ kind) }}
    {%- endif -%}
    {%- do ref(arrival_models[kind]) -%}
{%- endfor -%}
{%- do ref('stg_analytics__deleted_activity') -%}
{%- set options = {
    'materialized': 'incremental',
    'incremental_strategy': 'upsert_changed',
    'unique_key': unique_key,
    'pre_hook': ["{{ assert_build_cut_recorded() }}"] + pre_hook,
    'post_hook': ["{{ drop_swapped_out_backup() }}"] + post_hook + ["{{ record_watermarks() }}"],
    'meta': {'incremental_grain': {'takes_in': takes_in, 'tested_since': tested_since}},
} -%}
{%- if bucket_column is not none -%}
    {%- do options.update({'bucket_column': bucket_column}) -%}
{%- endif -%}
{%- if grants is not none -%}
    {%- do options.update({'grants': grants}) -%}
{%- endif -%}
{%- do config(**options) -%}
{{- note_read_start() -}}
{%- endmacro %}
