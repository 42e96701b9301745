{% macro internal_schema() -%}
{#- Staging views, intermediate tables and bookkeeping live here: never exposed to API roles,
    so nothing in `analytics` but the spec's objects can leak across tenants. -#}
{{ target.schema }}_internal
{%- endmacro %}


{% macro generate_schema_name(custom_schema_name, node) -%}
{%- if custom_schema_name is none -%}
    {{ target.schema }}
{%- elif custom_schema_name | trim == 'internal' -%}
    {{ internal_schema() }}
{%- else -%}
    {{ custom_schema_name | trim }}
{%- endif -%}
{%- endmacro %}
