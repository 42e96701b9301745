{% macro create_analytics_schema() %}
{#- create_build_role normally made it; `create schema if not exists` would still need CREATE on the database. -#}
do $schema$
begin
    if to_regnamespace('{{ target.schema }}') is null then
        create schema {{ target.schema }};
    end if;
    if to_regnamespace('{{ internal_schema() }}') is null then
        create schema {{ internal_schema() }};
    end if;
end
$schema$
{% endmacro %}
