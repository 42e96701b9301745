{% macro not_erased(user_column) -%}
{#- Leaves out the rows of people erased on request (analytics.erase_user) whom the app still
    keeps: no build, incremental or full, brings their activity back. The ids are read when the
    model runs and written into its SQL (usually none: `true`): an anti-join with the small,
    rarely analyzed table made the planner expect almost no events and loop over all of them. -#}
{%- set erased_users = source('analytics_internal', 'erased_users') -%}
{%- set erased = [] -%}
{%- if execute -%}
    {%- set found = run_query('select user_id::text from ' ~ erased_users ~ ' order by 1') -%}
    {%- set erased = found.columns[0].values() -%}
{%- endif -%}
{%- if erased | length == 0 -%}
    true
{%- else -%}
    {{ user_column }} <> all('{{ "{" ~ (erased | join(",")) ~ "}" }}'::uuid array)
{%- endif -%}
{%- endmacro %}
