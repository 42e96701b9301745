{% macro without_database_names(ddl) -%}
{#- A stored function body names relations without the database. dbt renders every relation
    as "database"."schema"."name", and PostgreSQL refuses a reference to another database, so a
    copy of the database under another name (CREATE DATABASE ... TEMPLATE, a restore under a
    new name) failed in each such function until the next build made it again. Usage: render
    the CREATE FUNCTION into a variable ({% set ddl %}...{% endset %}) and return this. -#}
{{- ddl | replace('"' ~ target.database ~ '".', '') -}}
{%- endmacro %}
